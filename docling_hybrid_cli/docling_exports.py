"""The DoclingDocument's files: its JSON and docling-core's own exports (HTML, text, DocTags).

Once the document is built, the other formats come from docling-core's
exporters -- the same ones docling's CLI writes with ``--to html|text|doctags``
-- so they read exactly as docling's would. Each file is written atomically
(a temporary file renamed into place): a reader never sees half of one, and
an interrupted run leaves the previous version.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import OutputError, OutputWriteError
from .formats import JsonImages
from .output import atomic_write_text

if TYPE_CHECKING:
    from docling_core.types.doc import DoclingDocument

__all__ = ["document_json", "export_text", "write_exports"]


def document_json(doc: DoclingDocument) -> str:
    """The document as docling's own ``save_as_json`` writes it, for an atomic write.

    Serialised by pydantic straight to a string -- the same fields as
    docling's ``export_to_dict`` (by alias, no nulls) -- without the
    intermediate dict of every item, which for a long document costs more
    than the string itself.
    """
    text: str = doc.model_dump_json(by_alias=True, exclude_none=True, indent=2)
    return text + "\n"


def export_text(doc: DoclingDocument, fmt: str, images: JsonImages = "referenced") -> str:
    """The document in ``fmt`` (json, html, text or doctags) as one string.

    The HTML shows figures as the JSON holds them: a link to the crop in
    ``<stem>_images/`` (referenced), the crop inline (embedded), or a
    placeholder comment (none). Text and DocTags have no images.
    """
    from docling_core.types.doc import ImageRefMode

    if fmt == "json":
        return document_json(doc)
    if fmt == "html":
        mode = {
            "referenced": ImageRefMode.REFERENCED,
            "embedded": ImageRefMode.EMBEDDED,
            "none": ImageRefMode.PLACEHOLDER,
        }[images]
        return doc.export_to_html(image_mode=mode) + "\n"
    if fmt == "text":
        return doc.export_to_text() + "\n"
    if fmt == "doctags":
        return doc.export_to_doctags() + "\n"
    raise ValueError(f"not a DoclingDocument format: {fmt}")


def write_exports(
    doc: DoclingDocument, paths: Mapping[str, Path], images: JsonImages = "referenced"
) -> None:
    """Write ``doc`` to each ``format -> path`` of ``paths``, atomically, one after the other.

    Only one export's text is in memory at a time. An exporter that fails on
    the document (a docling-core bug, a value it cannot serialise) is an
    :class:`OutputWriteError` naming the file, like a full disk.
    """
    for fmt, path in paths.items():
        try:
            text = export_text(doc, fmt, images)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # pydantic's ValidationError is a ValueError; the exporters raise the others
            raise OutputWriteError(f"cannot export the DoclingDocument as {path}: {exc}") from None
        try:
            atomic_write_text(path, text)
        except OutputError as exc:
            raise OutputWriteError(str(exc)) from None
        del text
