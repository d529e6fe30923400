"""The DoclingDocument's files: JSON and docling-core's HTML, text and DocTags, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("docling_core", reason="the [docling] extra is not installed")

from docling_core.types.doc import DoclingDocument

from docling_hybrid_cli.blocks import markdown_blocks
from docling_hybrid_cli.docling_document import DocPage, build_document
from docling_hybrid_cli.docling_exports import export_text, write_exports
from docling_hybrid_cli.errors import OutputWriteError

MARKDOWN = "# Report\n\n## Part one\n\nSome text.\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |"


def document() -> DoclingDocument:
    return build_document("report", [DocPage(1, 612, 792, markdown_blocks(MARKDOWN))])


def test_each_format_is_docling_cores_export() -> None:
    doc = document()
    assert DoclingDocument.model_validate_json(export_text(doc, "json")) == doc
    html = export_text(doc, "html")
    assert "<h2>Part one</h2>" in html and "<ul>" in html and ">a</li>" in html
    assert "<th>x</th>" in html
    text = export_text(doc, "text")
    assert "Part one" in text and "Some text." in text and "##" not in text
    doctags = export_text(doc, "doctags")
    assert doctags.startswith("<doctag>") and "<section_header_level_1>" in doctags
    assert "<unordered_list>" in doctags
    with pytest.raises(ValueError, match="not a DoclingDocument format"):
        export_text(doc, "md")


def test_write_exports_writes_every_file_atomically(tmp_path: Path) -> None:
    paths = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "html", "text", "doctags")}
    (tmp_path / "report.html").write_text("the previous run", "utf-8")
    write_exports(document(), paths)
    assert all("Part one" in path.read_text("utf-8") for path in paths.values())
    assert "previous" not in (tmp_path / "report.html").read_text("utf-8")
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths.values())


def test_an_export_that_cannot_be_written_is_an_output_write_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", "utf-8")
    with pytest.raises(OutputWriteError):
        write_exports(document(), {"json": blocker / "report.json"})


def test_an_exporter_failure_is_an_output_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = document()

    def broken(*args: object, **kwargs: object) -> str:
        raise ValueError("cannot serialise this")

    monkeypatch.setattr(DoclingDocument, "export_to_doctags", broken)
    with pytest.raises(OutputWriteError, match=r"report\.doctags: cannot serialise this"):
        write_exports(doc, {"doctags": tmp_path / "report.doctags"})
    assert not list(tmp_path.iterdir())
