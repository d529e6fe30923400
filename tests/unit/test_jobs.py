"""Job planning: where each input's Markdown goes, and refusals before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from docling_hybrid_cli.errors import OutputError, UsageError
from docling_hybrid_cli.formats import output_paths
from docling_hybrid_cli.jobs import DEFAULT_GLOB, check_report, plan_jobs
from docling_hybrid_cli.pipeline import DocumentJob


def touch(path: Path, data: bytes = b"%PDF-1.7\n") -> Path:
    """Create ``path`` (and its folders); content does not matter to planning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """docs/ with PDFs at three depths, an image and a text file."""
    root = tmp_path / "docs"
    touch(root / "top.pdf")
    touch(root / "a" / "one.pdf")
    touch(root / "a" / "b" / "two.pdf")
    touch(root / "a" / "scan.png", b"\x89PNG\r\n\x1a\n")
    touch(root / "notes.txt", b"hello")
    return root


def outputs(jobs: list[DocumentJob]) -> dict[Path, Path]:
    """source → output of every planned job."""
    return {job.source: job.output for job in jobs}


def test_single_file_goes_beside_input(tmp_path: Path) -> None:
    """Without -o, report.pdf → report.md in the same folder."""
    pdf = touch(tmp_path / "in" / "report.pdf")
    [job] = plan_jobs([pdf])
    assert job.source == pdf
    assert job.output == tmp_path / "in" / "report.md"


def test_single_file_with_output_file(tmp_path: Path) -> None:
    """One input and -o NAME.md writes exactly that file, even in a new folder."""
    pdf = touch(tmp_path / "report.pdf")
    target = tmp_path / "out" / "Final.MD"
    [job] = plan_jobs([pdf], output=target)
    assert job.output == target


@pytest.mark.parametrize("existing", [True, False], ids=["existing-dir", "new-dir"])
def test_single_file_with_output_dir(tmp_path: Path, existing: bool) -> None:
    """-o DIR (existing, or any name not ending in .md) puts <stem>.md inside it."""
    pdf = touch(tmp_path / "report.pdf")
    out = tmp_path / "out"
    if existing:
        out.mkdir()
    [job] = plan_jobs([pdf], output=out)
    assert job.output == out / "report.md"


def test_existing_dir_named_md_is_a_dir(tmp_path: Path) -> None:
    """A directory that happens to be called x.md is still used as a directory."""
    pdf = touch(tmp_path / "report.pdf")
    out = tmp_path / "x.md"
    out.mkdir()
    [job] = plan_jobs([pdf], output=out)
    assert job.output == out / "report.md"


def test_several_files_into_output_dir(tmp_path: Path) -> None:
    """Several file inputs land flat in -o DIR under their own stems."""
    a = touch(tmp_path / "x" / "a.pdf")
    b = touch(tmp_path / "y" / "b.tiff", b"II*\x00")
    out = tmp_path / "out"
    assert outputs(plan_jobs([a, b], output=out)) == {a: out / "a.md", b: out / "b.md"}


def test_directory_default_glob_finds_pdfs_recursively(tree: Path) -> None:
    """A directory input picks up every PDF below it, sorted, each beside its input."""
    jobs = plan_jobs([tree])
    assert [j.source for j in jobs] == sorted(tree.glob(DEFAULT_GLOB))
    assert {j.source.name for j in jobs} == {"top.pdf", "one.pdf", "two.pdf"}
    assert all(j.output == j.source.with_suffix(".md") for j in jobs)


def test_directory_into_output_dir_mirrors_layout(tree: Path, tmp_path: Path) -> None:
    """With -o DIR the sub-folders of the input are recreated under DIR."""
    out = tmp_path / "out"
    assert outputs(plan_jobs([tree], output=out)) == {
        tree / "top.pdf": out / "top.md",
        tree / "a" / "one.pdf": out / "a" / "one.md",
        tree / "a" / "b" / "two.pdf": out / "a" / "b" / "two.md",
    }


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("*.pdf", {"top.pdf"}),
        ("a/**/*.pdf", {"one.pdf", "two.pdf"}),
        ("**/*.png", {"scan.png"}),
        ("**/*", {"top.pdf", "one.pdf", "two.pdf", "scan.png", "notes.txt"}),
    ],
)
def test_glob_selects_files(tree: Path, pattern: str, names: set[str]) -> None:
    """--glob chooses which files inside a directory are inputs; folders never are."""
    assert {j.source.name for j in plan_jobs([tree], pattern=pattern)} == names


def test_files_and_directories_mix(tree: Path, tmp_path: Path) -> None:
    """A file argument next to a directory keeps its own name under -o DIR."""
    extra = touch(tmp_path / "elsewhere" / "extra.pdf")
    out = tmp_path / "out"
    planned = outputs(plan_jobs([tree, extra], output=out))
    assert planned[extra] == out / "extra.md"
    assert planned[tree / "a" / "b" / "two.pdf"] == out / "a" / "b" / "two.md"


def test_pages_and_password_reach_every_job(tree: Path) -> None:
    """--pages and --password apply to each planned document."""
    jobs = plan_jobs([tree], pages="1-2", password="pw")
    assert jobs
    assert {(j.pages, j.password) for j in jobs} == {("1-2", "pw")}


@pytest.mark.parametrize(
    "names",
    [("a.pdf", "a.png"), ("a.pdf", "a.tif")],
    ids=["pdf-and-png", "pdf-and-tif"],
)
def test_clash_beside_inputs_is_refused(tmp_path: Path, names: tuple[str, str]) -> None:
    """Two inputs that would both write a.md are refused up front, naming both."""
    first, second = (touch(tmp_path / n) for n in names)
    with pytest.raises(UsageError, match=r"would both write .*a\.md") as info:
        plan_jobs([first, second])
    assert str(first) in str(info.value) and str(second) in str(info.value)
    assert info.value.exit_code == 2


def test_clash_in_output_dir_is_refused(tmp_path: Path) -> None:
    """Same-named files from different folders clash when flattened into -o DIR."""
    first = touch(tmp_path / "x" / "report.pdf")
    second = touch(tmp_path / "y" / "report.pdf")
    with pytest.raises(UsageError, match=r"use -o DIR|would both write"):
        plan_jobs([first, second], output=tmp_path / "out")


def test_clash_between_two_directories_is_refused(tmp_path: Path) -> None:
    """Two directory inputs with the same relative file clash under one -o DIR."""
    touch(tmp_path / "x" / "sub" / "r.pdf")
    touch(tmp_path / "y" / "sub" / "r.pdf")
    with pytest.raises(UsageError, match="would both write"):
        plan_jobs([tmp_path / "x", tmp_path / "y"], output=tmp_path / "out")


def test_same_file_twice_is_a_clash(tmp_path: Path) -> None:
    """Naming one file twice (even spelled differently) is refused, not converted twice."""
    pdf = touch(tmp_path / "r.pdf")
    with pytest.raises(UsageError, match="would both write"):
        plan_jobs([pdf, tmp_path / "." / "r.pdf"])


def test_missing_input_is_planned_so_the_others_still_convert(tmp_path: Path) -> None:
    """A path that does not exist gets a job; converting it fails without stopping the rest."""
    jobs = plan_jobs([touch(tmp_path / "ok.pdf"), tmp_path / "nope.pdf"])
    assert [j.source.name for j in jobs] == ["ok.pdf", "nope.pdf"]


def test_empty_directory(tmp_path: Path) -> None:
    """A directory with nothing matching the glob is a usage error naming the glob."""
    empty = tmp_path / "empty"
    empty.mkdir()
    touch(empty / "readme.txt", b"x")
    with pytest.raises(UsageError, match=r"no files matching '\*\*/\*\.pdf' in .*empty"):
        plan_jobs([empty])


def test_no_inputs() -> None:
    """An empty input list is a usage error, not an empty run."""
    with pytest.raises(UsageError, match="no input"):
        plan_jobs([])


def test_several_inputs_need_a_directory_output(tmp_path: Path) -> None:
    """-o pointing at an existing regular file cannot take several documents."""
    target = touch(tmp_path / "existing.md", b"old")
    a, b = touch(tmp_path / "a.pdf"), touch(tmp_path / "b.pdf")
    with pytest.raises(OutputError, match="not a directory"):
        plan_jobs([a, b], output=target)
    assert target.read_bytes() == b"old"


def test_planning_writes_nothing(tree: Path, tmp_path: Path) -> None:
    """Planning only decides names: no output folder or file is created."""
    out = tmp_path / "out"
    plan_jobs([tree], output=out)
    assert not out.exists()
    assert not list(tree.rglob("*.md"))


@pytest.mark.parametrize(
    "pattern", ["../*.pdf", "../other/**/*.pdf", "a/../../*.pdf", "/etc/*.pdf", "", "  "]
)
def test_glob_cannot_leave_the_input_folder(tree: Path, tmp_path: Path, pattern: str) -> None:
    """A pattern reaching outside the folder would mirror files outside -o DIR."""
    (tmp_path / "other").mkdir(exist_ok=True)
    (tmp_path / "other" / "x.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(UsageError, match="--glob"):
        plan_jobs([tree], output=tmp_path / "out", pattern=pattern)


@pytest.mark.parametrize("name", ["report.json", "report.md", "report.html", "report.TXT"])
def test_an_output_file_of_any_requested_format_names_the_stem(tmp_path: Path, name: str) -> None:
    pdf = touch(tmp_path / "in.pdf")
    formats = ("md", "json", "html", "text")
    [job] = plan_jobs([pdf], output=tmp_path / "out" / name, formats=formats)
    assert job.output == tmp_path / "out" / "report.md"
    assert output_paths(job.output, formats)["text"] == tmp_path / "out" / "report.txt"


def test_an_output_file_of_a_format_not_asked_for_is_refused(tmp_path: Path) -> None:
    pdf = touch(tmp_path / "in.pdf")
    with pytest.raises(UsageError, match=r"\.json is not an output of this run.*--to json"):
        plan_jobs([pdf], output=tmp_path / "report.json")


@pytest.mark.parametrize("name", ["copy.pdf", "scan.PNG", "out.tiff"])
def test_an_output_named_like_an_input_is_refused(tmp_path: Path, name: str) -> None:
    """``-o in.pdf`` is a slip (the input named twice), not a folder to create."""
    pdf = touch(tmp_path / "in.pdf")
    with pytest.raises(UsageError, match="is an input type, not an output"):
        plan_jobs([pdf], output=tmp_path / name)


def test_an_existing_directory_named_like_an_input_is_still_a_directory(tmp_path: Path) -> None:
    pdf = touch(tmp_path / "in.pdf")
    (tmp_path / "out.pdf").mkdir()
    assert outputs(plan_jobs([pdf], output=tmp_path / "out.pdf")) == {
        pdf: tmp_path / "out.pdf" / "in.md"
    }


def test_outputs_of_other_formats_clash_too(tmp_path: Path) -> None:
    """a.pdf and a.tiff in one -o DIR would write the same a.json (and a.md)."""
    a, b = touch(tmp_path / "x" / "a.pdf"), touch(tmp_path / "y" / "a.tiff", b"II*\x00")
    with pytest.raises(UsageError, match=r"would both write .*a\.json"):
        plan_jobs([a, b], output=tmp_path / "out", formats=("json",))


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ("doc.md", "Markdown of"),
        ("doc.json", "DoclingDocument of"),
        ("doc.txt", "text export of"),
        ("doc.pdf", "is an input"),
    ],
)
def test_a_report_on_an_output_or_input_is_refused(
    tmp_path: Path, report: str, message: str
) -> None:
    pdf = touch(tmp_path / "doc.pdf")
    jobs = plan_jobs([pdf], formats=("md", "json", "text"))
    with pytest.raises(UsageError, match=message):
        check_report(jobs, tmp_path / report, ("md", "json", "text"))


def test_a_report_elsewhere_is_fine(tmp_path: Path) -> None:
    pdf = touch(tmp_path / "doc.pdf")
    jobs = plan_jobs([pdf], formats=("md", "json"))
    check_report(jobs, tmp_path / "doc.html", ("md", "json"))  # html is not written
    check_report(jobs, tmp_path / "run.json", ("md", "json"))
