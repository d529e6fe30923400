"""`convert --to md --to json` end to end against the simulated DeepSeek-OCR server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pdfgen import make_pdf
from PIL import Image
from typer.testing import CliRunner, Result

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockServer

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Invoke:
    """Run the CLI in-process from tmp_path; retries do not back off."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_INITIAL_S", "0")
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_MAX_S", "0")

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(app, [str(a) for a in args])

    return run


def convert_args(server: MockServer, *extra: str | Path) -> list[str]:
    return [
        "convert",
        *map(str, extra),
        "--base-url",
        f"{server.url}/v1",
        "--backend",
        "deepseek-vllm",
    ]


def test_md_and_json_are_written_side_by_side(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    pytest.importorskip("docling_core")
    from docling_core.types.doc import DocItemLabel, DoclingDocument

    make_pdf(tmp_path / "doc.pdf", 3)
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "md", "--to", "json"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "doc.md").read_text("utf-8").count("# Page ") == 3
    doc = DoclingDocument.load_from_json(tmp_path / "doc.json")
    assert sorted(doc.pages) == [1, 2, 3]
    assert doc.pages[1].size.width == pytest.approx(301.0)  # make_pdf's page, in points
    titles = [t for t in doc.texts if t.label == DocItemLabel.TITLE]
    assert [t.prov[0].page_no for t in titles] == [1, 2, 3]
    assert len(doc.tables) == 3 and len(doc.pictures) == 3
    assert all(t.captions and p.captions for t, p in zip(doc.tables, doc.pictures, strict=True))
    assert DoclingDocument.model_validate_json(doc.model_dump_json()) == doc
    for picture in doc.pictures:  # each references its crop, relative to the JSON
        assert picture.image is not None and isinstance(picture.image.uri, Path)
        assert (tmp_path / picture.image.uri).is_file()
        assert picture.image.uri.parent == Path("doc_images")
    assert not list(tmp_path.glob(".doc.json.*")), "no temporary file is left behind"


def test_json_alone_writes_no_markdown(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    pytest.importorskip("docling_core")
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "doc.json").read_text("utf-8"))["name"] == "doc"
    assert not (tmp_path / "doc.md").exists()
    assert not list(tmp_path.glob(".doc.md*")), "the Markdown's partial file is removed"


def test_a_failed_page_is_a_page_without_items(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    pytest.importorskip("docling_core")
    from docling_core.types.doc import DoclingDocument

    make_pdf(tmp_path / "doc.pdf", 3)
    mock_server.inject("401")  # one page is refused for good
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "md", "--to", "json"))
    assert result.exit_code == 1, result.output
    doc = DoclingDocument.load_from_json(tmp_path / "doc.json")
    assert sorted(doc.pages) == [1, 2, 3]
    pages_with_items = {p.page_no for item in doc.texts for p in item.prov}
    assert len(pages_with_items) == 2


def test_without_docling_core_json_is_refused_with_the_install_command(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "docling_core.types.doc", None)
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "json"))
    assert result.exit_code == 2, result.output
    assert "pip install 'docling-hybrid-ocr[docling]'" in result.output
    assert mock_server.stats.chat_requests == 0
    assert not (tmp_path / "doc.md").exists() and not (tmp_path / "doc.json").exists()


def test_an_unknown_format_is_bad_input(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "docx"))
    assert result.exit_code == 2, result.output
    assert mock_server.stats.chat_requests == 0


def test_help_and_markdown_runs_do_not_import_docling_core(
    mock_server: MockServer, tmp_path: Path
) -> None:
    """A whole Markdown-only conversion in a fresh interpreter never loads docling-core."""
    make_pdf(tmp_path / "doc.pdf", 2)
    args = convert_args(mock_server, "doc.pdf", "--to", "md")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from docling_hybrid_cli.cli import app\n"
        "assert CliRunner().invoke(app, ['convert', '--help']).exit_code == 0\n"
        "assert 'docling_core' not in sys.modules, 'loaded by --help'\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.startswith('docling_core')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "doc.md").is_file()


@pytest.mark.parametrize(
    ("report", "what"),
    [
        ("doc.json", "DoclingDocument"),
        ("doc.html", "html export"),
        ("doc.txt", "text export"),
        ("doc.doctags", "doctags export"),
        ("doc.md", "Markdown"),
        ("doc.pdf", "an input"),
    ],
)
def test_a_report_on_any_output_is_refused(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path, report: str, what: str
) -> None:
    pytest.importorskip("docling_core")
    make_pdf(tmp_path / "doc.pdf", 1)
    formats = ["--to", "md", "--to", "json", "--to", "html", "--to", "text", "--to", "doctags"]
    result = invoke(*convert_args(mock_server, "doc.pdf", *formats, "--report", report))
    assert result.exit_code == 2, result.output
    assert what in result.output
    assert mock_server.stats.chat_requests == 0


def test_rotated_and_mixed_pages_keep_their_drawn_size_and_boxes_inside(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    """A /Rotate 90 page is landscape as drawn: its size is swapped and every box fits it."""
    pytest.importorskip("docling_core")
    from docling_core.types.doc import DoclingDocument

    make_pdf(tmp_path / "doc.pdf", 3, widths=[300, 500, 300], rotate={3: 90})
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "json"))
    assert result.exit_code == 0, result.output
    doc = DoclingDocument.load_from_json(tmp_path / "doc.json")
    sizes = {n: (p.size.width, p.size.height) for n, p in doc.pages.items()}
    assert sizes[1][0] == pytest.approx(300) and sizes[2][0] == pytest.approx(500)
    assert sizes[3] == pytest.approx((sizes[1][1], sizes[1][0]))
    items = [*doc.texts, *doc.tables, *doc.pictures]
    assert {p.page_no for item in items for p in item.prov} == {1, 2, 3}
    for item in items:
        for prov in item.prov:
            width, height = sizes[prov.page_no]
            box = prov.bbox
            assert 0 <= box.l < box.r <= width + 1e-6 and 0 <= box.b < box.t <= height + 1e-6


def test_an_image_input_is_a_page_sized_in_pixels_as_points(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    pytest.importorskip("docling_core")
    from docling_core.types.doc import DoclingDocument
    from PIL import Image

    Image.new("RGB", (640, 480), "white").save(tmp_path / "scan.png")
    result = invoke(*convert_args(mock_server, "scan.png", "--to", "json"))
    assert result.exit_code == 0, result.output
    doc = DoclingDocument.load_from_json(tmp_path / "scan.json")
    assert (doc.pages[1].size.width, doc.pages[1].size.height) == (640, 480)


def test_the_hierarchical_chunker_carries_section_headings(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    """md + json through the server; the JSON loads, round-trips and chunks under its headings.

    Needs docling-core's ``chunking`` extra, which ``make install`` installs for the tests.
    """
    pytest.importorskip("tree_sitter", reason="docling-core[chunking] is not installed")
    from docling_core.transforms.chunker.hierarchical_chunker import HierarchicalChunker
    from docling_core.types.doc import DoclingDocument

    make_pdf(tmp_path / "doc.pdf", 2)
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "md", "--to", "json"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "doc.md").is_file()
    doc = DoclingDocument.load_from_json(tmp_path / "doc.json")
    assert DoclingDocument.model_validate_json(doc.model_dump_json()) == doc
    chunks = list(HierarchicalChunker().chunk(doc))
    assert chunks and all(c.meta.headings for c in chunks)  # type: ignore[attr-defined]
    assert {c.meta.headings[0] for c in chunks} == {"Page 602x800", "Page 604x800"}  # type: ignore[attr-defined]
    texts = " ".join(c.text for c in chunks)
    assert "Figure 1: the picture of page 602x800" in texts and "x^2" in texts


def test_every_format_is_written_beside_the_others(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    """html, text and doctags are docling-core's exports of the same document."""
    pytest.importorskip("docling_core")
    make_pdf(tmp_path / "doc.pdf", 2)
    formats = ["--to", "html", "--to", "text", "--to", "doctags"]
    result = invoke(*convert_args(mock_server, "doc.pdf", *formats, "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["documents"][0]
    assert summary["outputs"] == {"html": "doc.html", "text": "doc.txt", "doctags": "doc.doctags"}
    assert "converting doc.pdf (2 pages) -> doc.html\n" in result.stderr, "no doc.md is named"
    assert summary["output"] == "doc.html"
    assert not (tmp_path / "doc.md").exists() and not (tmp_path / "doc.json").exists()
    html = (tmp_path / "doc.html").read_text("utf-8")
    assert "<h1>Page 602x800</h1>" in html and "<table>" in html
    assert '<img src="doc_images/page-0001-fig-1.jpg"' in html
    text = (tmp_path / "doc.txt").read_text("utf-8")
    assert "Page 604x800" in text and "#" not in text
    doctags = (tmp_path / "doc.doctags").read_text("utf-8")
    assert doctags.startswith("<doctag>") and doctags.count("<page_break>") == 1
    assert "<otsl>" in doctags


def test_the_output_file_names_the_stem_of_every_format(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    pytest.importorskip("docling_core")
    make_pdf(tmp_path / "doc.pdf", 1)
    args = ["-o", "out/report.json", "--to", "md", "--to", "json", "--report", "run.json"]
    result = invoke(*convert_args(mock_server, "doc.pdf", *args))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file()) == [
        ".docling-hybrid-ocr.manifest.jsonl",
        "report.json",
        "report.md",
    ]
    (document,) = json.loads((tmp_path / "run.json").read_text("utf-8"))["documents"]
    assert document["outputs"] == {"md": "out/report.md", "json": "out/report.json"}
    assert "out/report.md, out/report.json" in result.stderr


def test_an_output_suffix_that_is_not_asked_for_is_refused(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", "-o", "out.html"))
    assert result.exit_code == 2, result.output
    assert "--to html" in result.output
    assert mock_server.stats.chat_requests == 0 and not (tmp_path / "out.html").exists()


@pytest.mark.parametrize("mode", ["referenced", "embedded", "none"])
def test_json_images_decides_how_the_crops_are_held(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path, mode: str
) -> None:
    pytest.importorskip("docling_core")
    from docling_core.types.doc import DoclingDocument

    make_pdf(tmp_path / "doc.pdf", 1)
    args = ["--to", "json", "--to", "html", "--json-images", mode]
    result = invoke(*convert_args(mock_server, "doc.pdf", *args))
    assert result.exit_code == 0, result.output
    (picture,) = DoclingDocument.load_from_json(tmp_path / "doc.json").pictures
    html = (tmp_path / "doc.html").read_text("utf-8")
    crop = tmp_path / "doc_images" / "page-0001-fig-1.jpg"
    if mode == "none":
        assert picture.image is None and "<img" not in html
    elif mode == "embedded":
        assert picture.image is not None and str(picture.image.uri).startswith("data:image/jpeg")
        pil = picture.image.pil_image
        assert pil is not None and pil.size == Image.open(crop).size
        assert '<img src="data:image/' in html
    else:
        assert picture.image is not None and picture.image.uri == Path("doc_images") / crop.name
    assert picture.prov, "the picture keeps its place on the page in every mode"


def test_a_bad_json_images_value_is_bad_input(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "json", "--json-images", "x"))
    assert result.exit_code == 2, result.output
    assert mock_server.stats.chat_requests == 0


@pytest.mark.parametrize("fmt", ["html", "text", "doctags"])
def test_exports_without_docling_core_are_refused_with_the_install_command(
    invoke: Invoke,
    mock_server: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    monkeypatch.setitem(sys.modules, "docling_core.types.doc", None)
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", "--to", "md", "--to", fmt))
    assert result.exit_code == 2, result.output
    assert f"--to {fmt} needs docling-core" in result.output
    assert "pip install 'docling-hybrid-ocr[docling]'" in result.output
    assert mock_server.stats.chat_requests == 0


def test_json_only_documents_are_skipped_when_done(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    """--skip-existing keys on the JSON when no Markdown is asked for."""
    pytest.importorskip("docling_core")
    make_pdf(tmp_path / "doc.pdf", 1)
    args = convert_args(mock_server, "doc.pdf", "--to", "json", "--skip-existing")
    assert invoke(*args).exit_code == 0
    sent = mock_server.stats.chat_requests
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "skipped" in again.stderr and mock_server.stats.chat_requests == sent
    (tmp_path / "doc.json").unlink()
    assert invoke(*args).exit_code == 0
    assert (tmp_path / "doc.json").is_file() and mock_server.stats.chat_requests > sent


def test_dash_output_pipes_the_markdown_to_stdout(mock_server: MockServer, tmp_path: Path) -> None:
    """`convert doc.pdf -o - | reader`: the Markdown on the pipe, progress on stderr, no files."""
    make_pdf(tmp_path / "doc.pdf", 2)
    cli = [sys.executable, "-m", "docling_hybrid_cli", *convert_args(mock_server, "doc.pdf")]
    writer = subprocess.Popen(
        [*cli, "-o", "-"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    reader = subprocess.run(
        [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
        stdin=writer.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.close()
    stderr = writer.stderr.read().decode()
    assert writer.wait(timeout=60) == 0, stderr
    assert reader.stdout.count("# PAGE ") == 2 and "<!-- PAGE 2 -->" in reader.stdout
    assert "2/2 pages converted" in stderr and "-> -" in stderr
    assert "converting doc.pdf (2 pages) -> -\n" in stderr and "docling-hybrid-stdout" not in stderr
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != "xdg-cache")
    assert written == ["doc.pdf"], "nothing is written beside the input"


def test_dash_output_survives_a_reader_that_stops_early(
    mock_server: MockServer, tmp_path: Path
) -> None:
    """`-o - | head -n 1`: the closed pipe is no traceback."""
    make_pdf(tmp_path / "doc.pdf", 3)
    cli = [sys.executable, "-m", "docling_hybrid_cli", *convert_args(mock_server, "doc.pdf")]
    writer = subprocess.Popen(
        [*cli, "-o", "-"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.close()  # the reader is gone before anything is written
    stderr = writer.stderr.read().decode()
    assert writer.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--to", "json"], "--to json needs -o FILE or -o DIR"),
        (["--json"], "both write to stdout"),
        (["--skip-existing"], "--skip-existing needs output files"),
        (["doc.pdf"], "one input file"),
        (["."], "one input file"),
    ],
)
def test_dash_output_refuses_what_stdout_cannot_hold(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path, extra: list[str], message: str
) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    if extra == ["."]:
        args = convert_args(mock_server, ".", "-o", "-")
    else:
        args = convert_args(mock_server, "doc.pdf", "-o", "-", *extra)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and mock_server.stats.chat_requests == 0
    assert result.stdout == ""


def test_dash_output_with_a_report_names_stdout(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", "-o", "-", "--report", "run.json"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!--") or result.stdout.startswith("# Page")
    (document,) = json.loads((tmp_path / "run.json").read_text("utf-8"))["documents"]
    assert document["output"] == "-" and document["outputs"] == {"md": "-"}


def test_a_resumed_run_rebuilds_the_document_from_checkpoints(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    """The re-run sends only the failed page; the other pages' items come from their checkpoints."""
    pytest.importorskip("docling_core")
    from docling_core.types.doc import DoclingDocument

    make_pdf(tmp_path / "doc.pdf", 3)
    args = convert_args(mock_server, "doc.pdf", "--to", "md", "--to", "json", "--to", "text")
    mock_server.inject("401")
    assert invoke(*args).exit_code == 1
    first = DoclingDocument.load_from_json(tmp_path / "doc.json")
    assert len({p.page_no for t in first.texts for p in t.prov}) == 2
    sent = mock_server.stats.chat_requests
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert mock_server.stats.chat_requests == sent + 1
    doc = DoclingDocument.load_from_json(tmp_path / "doc.json")
    assert {p.page_no for t in doc.texts for p in t.prov} == {1, 2, 3}
    assert len(doc.tables) == 3 and all(t.data.num_cols == 2 for t in doc.tables)
    assert (tmp_path / "doc.txt").read_text("utf-8").count("Page 60") == 3


def test_text_layer_pages_get_pdfiums_boxes(invoke: Invoke, tmp_path: Path) -> None:
    """No model, no boxes from one: the text layer's own rectangles place each item."""
    pytest.importorskip("docling_core")
    from docling_core.types.doc import DoclingDocument

    make_pdf(tmp_path / "doc.pdf", 2, rotate={2: 90})
    result = invoke("convert", "doc.pdf", "--backend", "text-layer", "--to", "md", "--to", "json")
    assert result.exit_code == 0, result.output
    doc = DoclingDocument.load_from_json(tmp_path / "doc.json")
    for page_no in (1, 2):
        size = doc.pages[page_no].size
        items = [t for t in doc.texts if t.prov[0].page_no == page_no]
        assert items[0].text == f"Page {page_no}" and len(items) >= 3
        for item in items:
            box = item.prov[0].bbox
            assert 0 <= box.l < box.r <= size.width and 0 <= box.b < box.t <= size.height
            assert (box.r - box.l) * (box.t - box.b) < 0.5 * size.width * size.height
    title = next(t for t in doc.texts if t.prov[0].page_no == 1).prov[0].bbox
    assert title.t > 0.8 * doc.pages[1].size.height, "the first line is at the top of the page"
    rotated = next(t for t in doc.texts if t.prov[0].page_no == 2).prov[0].bbox
    assert rotated.l > 0.8 * doc.pages[2].size.width, "turned clockwise: now at the right edge"
    assert "Page 1" in (tmp_path / "doc.md").read_text("utf-8")
