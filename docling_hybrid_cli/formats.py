"""What ``convert --to`` can write, and where each output of a document goes.

Every document has one *stem path* -- its Markdown path, ``<stem>.md`` beside
the input or where ``-o`` says -- and each format's file is that path with
the format's suffix: ``report.md``, ``report.json``, ``report.html``,
``report.txt``, ``report.doctags``. The Markdown's path names the document
even when Markdown is not asked for (the lock, the partial file, the figures
folder and the manifest all key on it), so the outputs of a document stay
side by side whatever the combination.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "DOCLING_FORMATS",
    "SUFFIXES",
    "JsonImages",
    "OutputFormat",
    "format_for_suffix",
    "output_paths",
    "primary_output",
]

OutputFormat = Literal["md", "json", "html", "text", "doctags"]
"""md: the Markdown (streamed page by page); the others are exported from the DoclingDocument."""

JsonImages = Literal["referenced", "embedded", "none"]
"""How the DoclingDocument holds figure crops: a path into ``<stem>_images/``, a data URI, none."""

SUFFIXES: dict[str, str] = {
    "md": ".md",
    "json": ".json",
    "html": ".html",
    "text": ".txt",
    "doctags": ".doctags",
}
assert set(SUFFIXES) == set(get_args(OutputFormat))

DOCLING_FORMATS = frozenset({"json", "html", "text", "doctags"})
"""Formats built from a DoclingDocument: they need docling-core (the ``[docling]`` extra)."""


def output_paths(stem_path: Path, formats: Iterable[str]) -> dict[str, Path]:
    """Each requested format's file, in the order asked, beside ``stem_path`` (the .md path)."""
    return {fmt: stem_path.with_suffix(SUFFIXES[fmt]) for fmt in formats}


def primary_output(stem_path: Path, formats: Iterable[str]) -> Path:
    """The file that stands for the document (summary, manifest): the Markdown if asked for."""
    formats = tuple(formats)
    fmt = "md" if "md" in formats or not formats else formats[0]
    return stem_path.with_suffix(SUFFIXES[fmt])


def format_for_suffix(suffix: str) -> str | None:
    """The format a file suffix (``.json``, ``.TXT``) names, or None if it is none of ours."""
    wanted = suffix.lower()
    return next((fmt for fmt, known in SUFFIXES.items() if known == wanted), None)
