"""Markdown assembly: page order whatever the finish order, atomic files, placeholders, report."""

from __future__ import annotations

import itertools
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docling_hybrid_cli import output
from docling_hybrid_cli.blocks import Block
from docling_hybrid_cli.errors import OutputError, OutputWriteError
from docling_hybrid_cli.markdown_style import MarkdownStyle
from docling_hybrid_cli.output import (
    MarkdownWriter,
    atomic_write_bytes,
    failed_page_placeholder,
    page_record,
    write_json,
)
from docling_hybrid_cli.pages import AttemptError, Figure, PageResult, PageText
from docling_hybrid_cli.quality.record import PageQuality

SEP = "\n\n<!-- page {page} -->\n\n"
PAGES = [1, 2, 3, 4, 5]

MakeWriter = Callable[..., MarkdownWriter]


def ok(page: int, text: str | None = None, figures: tuple[Figure, ...] = ()) -> PageResult:
    """A converted page whose Markdown names it."""
    markdown = text if text is not None else f"# Page {page}\n\nBody of page {page}.\n"
    return PageResult(
        page=page,
        text=PageText(markdown=markdown, backend="deepseek-vllm", figures=figures),
        attempts=1,
    )


def failed(page: int, *errors: AttemptError) -> PageResult:
    """A page every backend failed on."""
    return PageResult(page=page, errors=list(errors), attempts=len(errors))


def expected_document(pages: list[int], separator: str = SEP) -> str:
    parts = [f"# Page {p}\n\nBody of page {p}." for p in pages]
    joined = parts[0]
    for page, part in zip(pages[1:], parts[1:], strict=True):
        joined += separator.format(page=page) + part
    return joined + "\n"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out" / "doc.md"


@pytest.fixture
def make_writer(out: Path) -> MakeWriter:
    """An opened MarkdownWriter for ``out``."""

    def make(pages: list[int] = PAGES, separator: str = SEP) -> MarkdownWriter:
        writer = MarkdownWriter(
            out, pages, separator=separator, figures_dir=out.with_name("doc_images")
        )
        writer.open()
        return writer

    return make


SHUFFLES = [
    [1, 2, 3, 4, 5],
    [5, 4, 3, 2, 1],
    [3, 1, 5, 2, 4],
    [2, 4, 1, 5, 3],
    [5, 1, 2, 3, 4],
]


@pytest.mark.parametrize("arrival", SHUFFLES, ids=lambda a: "".join(map(str, a)))
def test_pages_written_in_order_whatever_the_arrival(
    make_writer: MakeWriter, out: Path, arrival: list[int]
) -> None:
    """Results arriving shuffled are written in page order, each page once."""
    writer = make_writer()
    for page in arrival:
        writer.add(ok(page))
    assert writer.complete
    writer.commit()
    writer.close()
    assert out.read_text("utf-8") == expected_document(PAGES)
    assert writer.written_pages == PAGES


def test_every_permutation_of_four_pages(tmp_path: Path) -> None:
    """Exhaustively: all 24 arrival orders of four pages give the same file."""
    for n, arrival in enumerate(itertools.permutations([1, 2, 3, 4])):
        path = tmp_path / f"d{n}.md"
        writer = MarkdownWriter(path, [1, 2, 3, 4], separator=SEP, figures_dir=tmp_path / "f")
        writer.open()
        for page in arrival:
            writer.add(ok(page))
        writer.commit()
        assert path.read_text("utf-8") == expected_document([1, 2, 3, 4]), arrival


def test_prefix_streams_to_partial_as_soon_as_complete(make_writer: MakeWriter, out: Path) -> None:
    """A page is on disk (in .partial) once every page before it is done, not before."""
    writer = make_writer()
    partial = writer.partial_path
    assert partial.parent == out.parent and partial.name.startswith(".doc.md.")
    writer.add(ok(3))
    writer.add(ok(2))
    assert partial.read_text("utf-8") == ""
    assert writer.written_pages == []
    writer.add(ok(1))
    assert writer.written_pages == [1, 2, 3]
    assert partial.read_text("utf-8") == expected_document([1, 2, 3]).rstrip("\n")
    assert not out.exists()
    writer.close()


def test_page_selection_order_and_separator_numbers(make_writer: MakeWriter, out: Path) -> None:
    """With --pages 2-3,5 the separator before each page carries that page's number."""
    writer = make_writer([2, 3, 5], separator="\n---{page}---\n")
    for page in (5, 2, 3):
        writer.add(ok(page))
    writer.commit()
    text = out.read_text("utf-8")
    assert text == expected_document([2, 3, 5], "\n---{page}---\n")
    assert "---2---" not in text
    assert text.index("---3---") < text.index("---5---")


def test_single_page_has_no_separator(make_writer: MakeWriter, out: Path) -> None:
    """One page: no separator at all, a trailing newline."""
    writer = make_writer([4])
    writer.add(ok(4))
    writer.commit()
    assert out.read_text("utf-8") == "# Page 4\n\nBody of page 4.\n"


def test_failed_page_placeholder_in_place(make_writer: MakeWriter, out: Path) -> None:
    """A failed page holds a comment with every backend's reason, in its place."""
    writer = make_writer([1, 2, 3], separator="\n===\n")
    writer.add(ok(3))
    writer.add(
        failed(
            2,
            AttemptError("deepseek-vllm", "HTTP 503: overloaded", "BackendServerError", 503),
            AttemptError("nemotron-openrouter", "OPENROUTER_API_KEY is not set", "BackendRejected"),
        )
    )
    writer.add(ok(1))
    writer.commit()
    one, two, three = out.read_text("utf-8").split("\n===\n")
    assert one == "# Page 1\n\nBody of page 1."
    assert two.startswith("<!-- page 2 failed: ")
    assert "deepseek-vllm: HTTP 503: overloaded" in two
    assert "nemotron-openrouter: OPENROUTER_API_KEY is not set" in two
    assert three == "# Page 3\n\nBody of page 3.\n"


@pytest.mark.parametrize(
    ("error", "expected_fragment"),
    [
        ("line one\nline two", "line one line two"),
        ("a -- b --> c", "a - - b - -> c"),
    ],
)
def test_placeholder_stays_one_valid_comment(error: str, expected_fragment: str) -> None:
    """A reason with newlines or '--' cannot break out of the HTML comment."""
    text = failed_page_placeholder(failed(9, AttemptError("b", error, "BackendRejected")))
    assert text.startswith("<!-- page 9 failed: ")
    assert text.endswith(" -->")
    assert "\n" not in text
    assert "--" not in text[4:-3]
    assert expected_fragment in text


def test_placeholder_names_each_ladder_step_once() -> None:
    """Loop-ladder failures say which step failed; the backend's name is not repeated."""
    text = failed_page_placeholder(
        failed(
            4,
            AttemptError("deepseek-vllm", "answer cut off", "LoopedAnswer", step="guard 30/90"),
            AttemptError("deepseek-vllm", "answer cut off", "LoopedAnswer", step="guard 40/512"),
        )
    )
    assert text == (
        "<!-- page 4 failed: deepseek-vllm (guard 30/90): answer cut off; "
        "deepseek-vllm (guard 40/512): answer cut off -->"
    )


def test_placeholder_without_errors() -> None:
    """A failed page with no recorded error still says so."""
    assert "no backend tried" in failed_page_placeholder(PageResult(page=1))


def test_commit_renames_partial_into_place(make_writer: MakeWriter, out: Path) -> None:
    """Until commit only the .partial exists; commit renames it and leaves no temp file."""
    writer = make_writer([1, 2])
    writer.add(ok(1))
    writer.add(ok(2))
    assert writer.partial_path.exists()
    assert not out.exists()
    writer.commit()
    writer.close()
    assert out.exists()
    assert not writer.partial_path.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["doc.md"]


def test_old_output_survives_until_commit(make_writer: MakeWriter, out: Path) -> None:
    """A previous run's file under the final name is replaced only by the commit."""
    out.parent.mkdir(parents=True)
    out.write_text("old run\n", encoding="utf-8")
    writer = make_writer([1, 2])
    writer.add(ok(1))
    assert out.read_text("utf-8") == "old run\n"
    writer.add(ok(2))
    writer.commit()
    assert out.read_text("utf-8") == expected_document([1, 2])


def test_close_without_commit_keeps_partial(make_writer: MakeWriter, out: Path) -> None:
    """Stopping early (Ctrl-C) keeps the written prefix in .partial and creates no final file."""
    writer = make_writer()
    for page in (1, 2, 4):
        writer.add(ok(page))
    writer.close()
    writer.close()  # idempotent
    assert not out.exists()
    assert writer.partial_path.read_text("utf-8") == expected_document([1, 2]).rstrip("\n")
    assert not writer.complete


def test_figures_written_next_to_markdown(make_writer: MakeWriter, out: Path) -> None:
    """A page's figures land in the figures dir under their own names."""
    writer = make_writer([1])
    figure = Figure(name="page-0001-fig-1.jpg", data=b"\xff\xd8jpeg")
    writer.add(ok(1, "![](doc_images/page-0001-fig-1.jpg)", figures=(figure,)))
    writer.commit()
    assert (out.parent / "doc_images" / figure.name).read_bytes() == figure.data


def test_unwritable_output_location(tmp_path: Path) -> None:
    """An output path under a regular file is an OutputError naming the path, not an OSError."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "doc.md"
    writer = MarkdownWriter(target, [1], separator=SEP, figures_dir=tmp_path / "f")
    with pytest.raises(OutputError) as info:
        writer.open()
    assert str(target) in str(info.value)


def test_unwritable_figures_dir(make_writer: MakeWriter, out: Path) -> None:
    """A figures dir that cannot be created mid-run fails the document (exit 1), not the usage."""
    writer = make_writer([1])
    (out.parent / "doc_images").write_text("a file, not a dir", encoding="utf-8")
    figure = Figure(name="f.jpg", data=b"x")
    with pytest.raises(OutputWriteError, match="cannot write"):
        writer.add(ok(1, figures=(figure,)))
    writer.close()


# --------------------------------------------------------------------------- planted symlinks


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file elsewhere that a planted symlink points at; no write may reach it."""
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir()
    path.write_text("precious", "utf-8")
    return path


def racing_names(
    monkeypatch: pytest.MonkeyPatch, plant: Callable[[str], None]
) -> Callable[[int], str]:
    """Random names whose first one an attacker claims with a symlink just before it is used."""
    names = iter(["a" * 12, "b" * 12, "c" * 12])

    def token_hex(nbytes: int) -> str:
        name = next(names)
        if name == "a" * 12:
            plant(name)
        return name

    monkeypatch.setattr(output.secrets, "token_hex", token_hex)
    return token_hex


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_symlink_planted_at_the_partial_name_is_never_followed(
    out: Path, victim: Path, monkeypatch: pytest.MonkeyPatch, dangling: bool
) -> None:
    """O_EXCL|O_NOFOLLOW: a symlink at the partial file's name (even one planted after the
    stale-file clean-up) makes the writer pick another name; its target is never written."""
    target = victim.with_name("created.txt") if dangling else victim
    out.parent.mkdir(parents=True)
    racing_names(
        monkeypatch, lambda name: out.with_name(f".doc.md.{name}.partial").symlink_to(target)
    )
    writer = MarkdownWriter(out, [1, 2], separator=SEP, figures_dir=out.with_name("doc_images"))
    writer.open()
    assert writer.partial_path.name == f".doc.md.{'b' * 12}.partial"
    writer.add(ok(1))
    writer.add(ok(2))
    writer.commit()
    assert out.read_text("utf-8") == expected_document([1, 2])
    assert victim.read_text("utf-8") == "precious"
    assert not victim.with_name("created.txt").exists()
    assert out.with_name(f".doc.md.{'a' * 12}.partial").is_symlink()


def test_symlink_planted_at_a_temporary_name_is_never_followed(
    tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Figures, reports and checkpoints go through the same O_EXCL|O_NOFOLLOW creation."""
    target = tmp_path / "report.json"
    racing_names(
        monkeypatch, lambda name: tmp_path.joinpath(f".report.json.{name}.tmp").symlink_to(victim)
    )
    atomic_write_bytes(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert victim.read_text("utf-8") == "precious"


def test_open_removes_partial_files_of_stopped_runs(out: Path, victim: Path) -> None:
    """Partial files an interrupted run left for this output (the old fixed name too) are
    removed -- a symlink among them is unlinked, not followed; other files stay."""
    out.parent.mkdir(parents=True)
    stale = [out.with_name(".doc.md.0123456789ab.partial"), out.with_name(".doc.md.partial")]
    stale[0].write_text("pages of an earlier run", "utf-8")
    stale[1].symlink_to(victim)
    kept = [out.with_name(".doc.md.notes"), out.with_name(".other.md.0123456789ab.partial")]
    for path in kept:
        path.write_text("not ours", "utf-8")
    writer = MarkdownWriter(out, [1], separator=SEP, figures_dir=out.with_name("doc_images"))
    writer.open()
    writer.add(ok(1))
    writer.commit()
    assert not any(path.is_symlink() or path.exists() for path in stale)
    assert all(path.read_text("utf-8") == "not ours" for path in kept)
    assert victim.read_text("utf-8") == "precious"


def test_commit_does_not_copy_the_mode_of_a_symlinked_output(
    out: Path, victim: Path, umask_022: None
) -> None:
    """An output name that is a symlink is replaced by the new file; the target keeps its bytes
    and the new file does not take the target's (perhaps world-writable) mode."""
    out.parent.mkdir(parents=True)
    victim.chmod(0o666)
    out.symlink_to(victim)
    writer = MarkdownWriter(out, [1], separator=SEP, figures_dir=out.with_name("doc_images"))
    writer.open()
    writer.add(ok(1))
    writer.commit()
    assert not out.is_symlink()
    assert victim.read_text("utf-8") == "precious"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "name", ["../escaped.jpg", "/tmp/abs.jpg", "sub/f.jpg", ".hidden.jpg", "..", ""]
)
def test_figure_with_a_path_for_a_name_is_refused(
    make_writer: MakeWriter, out: Path, name: str
) -> None:
    """A figure name must be a plain file name: it can never land outside ``<name>_images/``."""
    writer = make_writer([1])
    with pytest.raises(OutputWriteError, match="refusing to write a figure"):
        writer.add(ok(1, figures=(Figure(name=name, data=b"x"),)))
    writer.discard()
    assert sorted(p.name for p in out.parent.iterdir()) == []
    assert not (out.parent.parent / "escaped.jpg").exists()


def test_discard_removes_the_partial_file(make_writer: MakeWriter, out: Path) -> None:
    """After a write error the cut-short partial file is removed, not left to mislead."""
    writer = make_writer([1, 2])
    writer.add(ok(1))
    writer.discard()
    assert sorted(out.parent.iterdir()) == []


def test_atomic_write_leaves_no_temp_on_failure(tmp_path: Path) -> None:
    """A write that fails leaves neither the target nor a temp file behind."""
    target = tmp_path / "a_dir"
    target.mkdir()  # os.replace of a file onto a directory fails
    with pytest.raises(OutputError):
        atomic_write_bytes(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_dir"]


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("umask_022")
def test_new_files_get_the_mode_the_umask_gives(tmp_path: Path) -> None:
    """Figures and reports beside the Markdown are as readable as the Markdown (not 0600)."""
    atomic_write_bytes(tmp_path / "fig.jpg", b"x")
    assert stat.S_IMODE((tmp_path / "fig.jpg").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["fig.jpg"]


@pytest.mark.usefixtures("umask_022")
def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("{}", encoding="utf-8")
    target.chmod(0o664)  # wider than the umask allows for new files
    atomic_write_bytes(target, b"[]")
    assert stat.S_IMODE(target.stat().st_mode) == 0o664
    assert target.read_bytes() == b"[]"


@pytest.mark.usefixtures("umask_022")
def test_rewritten_markdown_keeps_its_mode(make_writer: MakeWriter, out: Path) -> None:
    out.parent.mkdir(parents=True)
    out.write_text("old", encoding="utf-8")
    out.chmod(0o600)
    writer = make_writer([1])
    writer.add(ok(1))
    writer.commit()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text(encoding="utf-8") != "old"


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("existing", [False, True])
def test_private_files_are_owner_only(tmp_path: Path, existing: bool) -> None:
    """The page cache and config files may hold private text or credentials."""
    target = tmp_path / "config.toml"
    if existing:
        target.write_text("", encoding="utf-8")
        target.chmod(0o644)
    atomic_write_bytes(target, b"x = 1", private=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_write_json(tmp_path: Path) -> None:
    """write_json writes readable, non-ASCII-preserving JSON atomically."""
    path = tmp_path / "r" / "report.json"
    write_json(path, {"name": "Zürich", "n": 1})
    assert json.loads(path.read_text("utf-8")) == {"name": "Zürich", "n": 1}
    assert "Zürich" in path.read_text("utf-8")


def test_page_record_converted() -> None:
    """A converted page's report record has backend, tokens, cost, figures and size."""
    text = PageText(
        markdown="abc",
        backend="deepseek-vllm",
        model="deepseek-ai/DeepSeek-OCR",
        finish_reason="stop",
        prompt_tokens=903,
        completion_tokens=120,
        cost=0.001,
        figures=(Figure("page-0002-fig-1.jpg", b""),),
        response_id="chatcmpl-42",
        replica="http://gpu2:8000/v1",
    )
    record = page_record(
        PageResult(
            page=2,
            text=text,
            attempts=2,
            latency_s=1.234567,
            errors=[AttemptError("deepseek-vllm", "HTTP 503", "BackendServerError", 503)],
        )
    )
    assert record == {
        "page": 2,
        "status": "converted",
        "empty": False,
        "empty_reason": None,
        "attempts": 2,
        "latency_s": 1.2346,
        "from_cache": False,
        "backend": "deepseek-vllm",
        "model": "deepseek-ai/DeepSeek-OCR",
        "step": None,
        "finish_reason": "stop",
        "prompt_tokens": 903,
        "completion_tokens": 120,
        "cost": 0.001,
        "response_id": "chatcmpl-42",
        "replica": "http://gpu2:8000/v1",
        "figures": ["page-0002-fig-1.jpg"],
        "chars": 3,
        "errors": [
            {
                "backend": "deepseek-vllm",
                "kind": "BackendServerError",
                "status": 503,
                "step": None,
                "error": "HTTP 503",
            }
        ],
    }
    json.dumps(record)


def test_page_record_of_a_ladder_step() -> None:
    """The step that converted the page, and each step that failed before it, are named."""
    loop = AttemptError("deepseek-vllm", "answer cut off", "LoopedAnswer", step="guard 30/90")
    text = PageText(markdown="abc", backend="deepseek-vllm", step="guard 40/512")
    record = page_record(PageResult(page=1, text=text, attempts=2, errors=[loop]))
    assert record["step"] == "guard 40/512"
    assert record["errors"] == [
        {
            "backend": "deepseek-vllm",
            "kind": "LoopedAnswer",
            "status": None,
            "step": "guard 30/90",
            "error": "answer cut off",
        }
    ]


def test_page_record_empty() -> None:
    """An empty page is converted, "empty": true, with its reason and what each backend said."""
    reason = "no backend found text (deepseek-vllm: empty answer)"
    said = AttemptError("deepseek-vllm", "empty answer", "EmptyAnswer")
    record = page_record(
        PageResult(
            page=5, text=PageText(markdown="", empty_reason=reason), attempts=2, errors=[said]
        )
    )
    assert record["status"] == "converted"
    assert record["empty"] is True
    assert record["empty_reason"] == reason
    assert record["chars"] == 0
    assert [e["kind"] for e in record["errors"]] == ["EmptyAnswer"]


def test_an_empty_page_is_only_the_separator(tmp_path: Path) -> None:
    """Nothing of an empty page reaches the Markdown but the separator before the next page."""
    out = tmp_path / "doc.md"
    writer = MarkdownWriter(
        out, [1, 2, 3], separator="\n<!-- page {page} -->\n", figures_dir=tmp_path
    )
    writer.open()
    writer.add(PageResult(page=1, text=PageText(markdown="one", backend="b")))
    writer.add(PageResult(page=2, text=PageText(markdown="", empty_reason="blank page")))
    writer.add(PageResult(page=3, text=PageText(markdown="three", backend="b")))
    writer.commit()
    assert out.read_text("utf-8") == "one\n<!-- page 2 -->\n\n<!-- page 3 -->\nthree\n"


def test_page_record_failed() -> None:
    """A failed page's record says failed and lists every backend's error."""
    record = page_record(
        failed(
            4,
            AttemptError("deepseek-vllm", "cannot connect", "BackendConnectError"),
            AttemptError("nemotron-openrouter", "HTTP 402", "BackendRejected", 402),
        )
    )
    assert record["status"] == "failed"
    assert record["page"] == 4
    assert "backend" not in record
    assert [e["backend"] for e in record["errors"]] == ["deepseek-vllm", "nemotron-openrouter"]
    assert record["errors"][1] == {
        "backend": "nemotron-openrouter",
        "kind": "BackendRejected",
        "status": 402,
        "step": None,
        "error": "HTTP 402",
    }


@pytest.mark.parametrize(
    ("style", "table", "sentence"),
    [
        (MarkdownStyle(), "| a | b |\n| --- | --- |\n| 1 | 2 |", "Cost \\$3 and $x$."),
        (MarkdownStyle("html", "latex"), "<table><tr><td>a</td>", "Cost $3 and \\(x\\)."),
    ],
    ids=["markdown-dollars", "html-latex"],
)
def test_pages_are_written_in_the_writers_style(
    tmp_path: Path, style: MarkdownStyle, table: str, sentence: str
) -> None:
    """The writer renders each page's blocks: the same page, two styles, two files."""
    out = tmp_path / "styled.md"
    blocks = (
        Block("image", "", ((0.1, 0.1, 0.9, 0.5),), ("page-0001-fig-1.jpg",)),
        Block("image_caption", "<center>Figure 1: A chart</center>"),
        Block("table", "<table><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table>"),
        Block("text", "Cost $3 and \\(x\\)."),
    )
    page = PageText(markdown="flat text, not written", blocks=blocks, dollars_are_math=False)
    writer = MarkdownWriter(
        out, [1], separator=SEP, figures_dir=tmp_path / "styled_images", style=style
    )
    writer.open()
    writer.add(PageResult(page=1, text=page, attempts=1))
    writer.commit()
    written = out.read_text("utf-8")
    assert written.startswith(
        "![Figure 1: A chart](styled_images/page-0001-fig-1.jpg)\n\nFigure 1: A chart\n\n"
    )
    assert table in written
    assert sentence in written
    assert "flat text" not in written


def test_a_page_given_only_as_markdown_is_styled_too(make_writer: MakeWriter, out: Path) -> None:
    writer = make_writer([1])
    writer.add(ok(1, "# T\n\n<center>Caption</center>\n\n<table><tr><td>1</td></tr></table>"))
    writer.commit()
    assert out.read_text("utf-8") == "# T\n\nCaption\n\n| 1 |\n| --- |\n"


def test_a_suspect_page_rendered_from_blocks_is_marked(make_writer: MakeWriter, out: Path) -> None:
    """The quality check's mark is written from the page's record, so a page whose Markdown
    comes from blocks (DeepSeek's) carries it too -- and a style re-render keeps it."""
    quality = PageQuality(agreement=0.2, precision=0.2, recall=0.9, suspect="invented")
    text = PageText(markdown="flat", blocks=(Block("text", "Words."),), dollars_are_math=False)
    writer = make_writer([1])
    writer.add(PageResult(page=1, text=text, attempts=1, quality=quality))
    writer.commit()
    written = out.read_text("utf-8")
    assert written.startswith("<!-- suspect page 1: may hold invented text")
    assert written.endswith("-->\n\nWords.\n")
