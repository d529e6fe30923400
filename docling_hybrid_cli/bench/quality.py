"""``benchmark --quality``: each backend's pages scored against reference Markdown.

The reference is one Markdown file with the tool's page separators
(``<!-- page N -->`` before every page but the first), a directory of one
file per page (the last number in a file's name is its page), or, without
either, the PDF's own text layer (as the text-layer backend reads it).

Per page and backend: the normalised edit similarity (one minus
OmniDocBench's normalised edit distance, order counts), word precision,
recall and F1 (order ignored) and, for pages whose reference holds a table,
a cell-level F1 (:mod:`docling_hybrid_cli.quality.tables`). Per backend the
means over the pages, so ``--backends a,b`` compares them side by side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium

from ..backends.text_layer import text_to_markdown
from ..errors import ConfigError, InputError
from ..pdfium_thread import run_pdfium
from ..pipeline import DocumentResult
from ..quality.scores import edit_similarity, token_scores
from ..quality.tables import cell_scores
from ..textlayer import text_in_reading_order
from .stats import mean_or_none

__all__ = ["load_references", "quality_report", "split_pages"]

_PAGE_MARK = re.compile(r"<!--\s*page\s+(\d+)\s*-->")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
_MAX_REFERENCE_BYTES = 64 << 20


def split_pages(markdown: str) -> dict[int, str]:
    """A document's Markdown cut at ``<!-- page N -->`` (the text before the first is page 1)."""
    pages: dict[int, str] = {}
    number, start = 1, 0
    for mark in _PAGE_MARK.finditer(markdown):
        pages[number] = markdown[start : mark.start()].strip()
        number, start = int(mark[1]), mark.end()
    pages[number] = markdown[start:].strip()
    return pages


def load_references(
    pdf: Path, reference: Path | None = None, reference_dir: Path | None = None
) -> tuple[dict[int, str], str]:
    """Reference Markdown per page and what it came from ("file", "directory", "text layer")."""
    if reference is not None and reference_dir is not None:
        raise ConfigError("give --reference or --reference-dir, not both")
    if reference is not None:
        return split_pages(_read(reference)), f"file {reference.name}"
    if reference_dir is not None:
        if not reference_dir.is_dir():
            raise InputError(f"--reference-dir {reference_dir}: not a directory")
        pages: dict[int, str] = {}
        for path in sorted(reference_dir.iterdir()):
            number = _LAST_NUMBER.search(path.stem)
            if path.suffix.lower() in (".md", ".markdown", ".txt") and number:
                pages[int(number[1])] = _read(path)
        if not pages:
            raise InputError(f"--reference-dir {reference_dir}: no page files (page-1.md, ...)")
        return pages, f"directory {reference_dir.name}"
    return run_pdfium(_text_layer_pages, pdf), "the PDF's text layer"


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_REFERENCE_BYTES:
            raise InputError(f"{path}: larger than {_MAX_REFERENCE_BYTES >> 20} MiB")
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"reference {path} cannot be read: {exc}") from None


def _text_layer_pages(pdf: Path) -> dict[int, str]:
    """Every page's text layer as Markdown; runs on the pdfium thread."""
    doc = pdfium.PdfDocument(str(pdf))
    try:
        pages = {}
        for index in range(len(doc)):
            page = doc[index]
            textpage = page.get_textpage()
            pages[index + 1] = text_to_markdown(text_in_reading_order(textpage))
            textpage.close()
            page.close()
        return pages
    finally:
        doc.close()


def quality_report(
    results: Mapping[str, DocumentResult],
    references: Mapping[int, str],
    source: str,
    pages_per_iteration: int | None = None,
) -> dict[str, Any]:
    """Scores per backend and page against ``references`` (keyed by the input's page number)."""
    backends: dict[str, Any] = {}
    for name, result in results.items():
        rows: list[dict[str, Any]] = []
        for page in result.pages:
            number = page.page
            if pages_per_iteration:
                number = (number - 1) % pages_per_iteration + 1
            reference = references.get(number)
            if reference is None:
                continue
            answer = page.text.markdown if page.text is not None else ""
            words = token_scores(answer, reference)
            cells = cell_scores(answer, reference)
            rows.append(
                {
                    "page": page.page,
                    "converted": page.ok,
                    "edit_similarity": round(edit_similarity(answer, reference), 4),
                    "precision": round(words.precision, 4),
                    "recall": round(words.recall, 4),
                    "f1": round(words.f1, 4),
                    "table_cells_f1": round(cells.f1, 4) if cells is not None else None,
                }
            )
        backends[name] = {
            "pages": rows,
            "mean": {
                key: mean_or_none([r[key] for r in rows if r[key] is not None])
                for key in ("edit_similarity", "precision", "recall", "f1", "table_cells_f1")
            },
        }
    return {
        "reference": source,
        "metrics": {
            "edit_similarity": "1 - normalised edit distance over normalised text (order counts)",
            "precision/recall/f1": "word overlap, order and markup ignored",
            "table_cells_f1": "table cells matched by content (pages whose reference has a table)",
        },
        "backends": backends,
    }
