"""The converted document as a DoclingDocument (``convert --to json|html|text|doctags``).

docling's data model (https://github.com/docling-project/docling-core) is what
docling's chunkers, exporters and integrations read. Each page's blocks
(:mod:`~docling_hybrid_cli.blocks`) become its items, with the model's layout
label mapped to docling's and each box as provenance in page points, bottom-left
origin -- as docling's own PDF pipeline stores them. Pages a backend gave no
boxes get the whole page as every item's box; failed pages are pages with
no items, so nothing is silently missing. Tables are read by
:mod:`~docling_hybrid_cli.docling_tables`, lists by
:mod:`~docling_hybrid_cli.docling_lists`; the files are written by
:mod:`~docling_hybrid_cli.docling_exports`.

``docling-core`` is an optional extra (``pip install 'docling-hybrid-ocr[docling]'``):
it is imported only when a document is built, never by ``--help`` or a
Markdown-only run.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .blocks import (
    CODE,
    EQUATION,
    IMAGE_CAPTIONS,
    IMAGES,
    SUB_TITLE,
    TABLE,
    TABLE_CAPTIONS,
    TEXT,
    TITLE,
    Block,
    Box,
)
from .docling_exports import document_json, write_exports
from .docling_lists import ListState, list_entries
from .docling_tables import table_data
from .errors import OutputWriteError, UsageError
from .formats import DOCLING_FORMATS, JsonImages
from .pages import PageResult

if TYPE_CHECKING:
    from docling_core.types.doc import DoclingDocument, ImageRef, NodeItem, ProvenanceItem
    from pydantic import AnyUrl

    from .page_source import PageSource

__all__ = [
    "INSTALL_HINT",
    "DoclingCollector",
    "DocPage",
    "build_document",
    "document_json",
    "require_docling_core",
]

INSTALL_HINT = "pip install 'docling-hybrid-ocr[docling]'"

_PAGE_HEADERS = frozenset({"header", "page_header"})
_PAGE_FOOTERS = frozenset({"footer", "page_footer"})
_FOOTNOTES = frozenset({"footnote", "table_footnote", "page_footnote"})
_WRAPPERS = re.compile(r"</?(?:center|div)\b[^>]*>", re.IGNORECASE)
"""Layout wrappers DeepSeek-OCR puts around captions and titles; their content is kept."""
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]*")
_MARKDOWN_IMAGE = re.compile(r"^!\[(?P<alt>[^\]\n]*)\]\([^)\n]*\)$")
"""A paragraph that is one Markdown image: a chat model's figure (no crop of ours to point to)."""


@dataclass(frozen=True, slots=True)
class DocPage:
    """One page of the selection: its size in PDF points and its blocks (None: it failed).

    ``figures_dir`` is the folder the page's figure crops were written to,
    beside the JSON: a picture references its crop there (a relative path, as
    docling's own ``save_as_json`` in referenced mode writes it), or holds it
    as a data URI (``images="embedded"``), or has no image (``"none"``).
    """

    page: int
    width: float
    height: float
    blocks: tuple[Block, ...] | None
    figures_dir: Path | None = None
    images: JsonImages = "referenced"


class DoclingCollector:
    """Keeps each finished page's blocks until the document is done, then writes its files.

    The pipeline drops a page's blocks once its Markdown is written, so they
    are kept here -- text and boxes only (figure bytes are on disk already),
    a few kilobytes a page. A failed page is kept as None: a page with no items.
    ``paths`` maps each DoclingDocument format asked for (json, html, text,
    doctags) to its file.
    """

    def __init__(
        self,
        paths: Mapping[str, Path],
        figures_dir: Path | None = None,
        images: JsonImages = "referenced",
    ) -> None:
        self.paths = {fmt: path for fmt, path in paths.items() if fmt in DOCLING_FORMATS}
        self.figures_dir = figures_dir
        self.images = images
        self._blocks: dict[int, tuple[Block, ...] | None] = {}

    def add(self, result: PageResult) -> None:
        text = result.text
        self._blocks[result.page] = None if text is None else text.page_blocks()

    async def write(self, source: PageSource, pages: Sequence[int]) -> None:
        """Build the document of ``pages`` (sizes read from ``source``) and write its files."""
        doc_pages = []
        for page in pages:
            width, height = await source.page_size(page)
            blocks = self._blocks.get(page)
            doc_pages.append(DocPage(page, width, height, blocks, self.figures_dir, self.images))
        self._blocks.clear()
        name = next(iter(self.paths.values())).stem if self.paths else "document"
        try:
            doc = build_document(name, doc_pages)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise OutputWriteError(f"cannot build the DoclingDocument {name}: {exc}") from None
        del doc_pages
        write_exports(doc, self.paths, self.images)


def require_docling_core(formats: Sequence[str] = ("json",)) -> None:
    """A :class:`UsageError` (exit 2) naming the install command when docling-core is missing.

    ``formats`` are the ones asked for; only those built from a DoclingDocument need it.
    """
    wanted = [fmt for fmt in formats if fmt in DOCLING_FORMATS]
    if not wanted:
        return
    try:
        import docling_core.types.doc  # noqa: F401
    except ImportError:
        flags = " ".join(f"--to {fmt}" for fmt in wanted)
        raise UsageError(f"{flags} needs docling-core: {INSTALL_HINT}") from None


def build_document(name: str, pages: Sequence[DocPage]) -> DoclingDocument:
    """The DoclingDocument of ``pages`` (in the order given), named ``name``."""
    from docling_core.types.doc import DoclingDocument, Size

    doc = DoclingDocument(name=name)
    lists = ListState(doc)  # a list may go on over a page break
    for page in pages:
        doc.add_page(page_no=page.page, size=Size(width=page.width, height=page.height))
        if page.blocks:
            _PageBuilder(doc, page, lists).add(page.blocks)
        elif page.blocks is None:
            lists.close()  # a failed page: what follows it is not known to continue anything
    return doc


class _PageBuilder:
    """Adds one page's blocks to the document, captions linked to their table or picture."""

    def __init__(self, doc: DoclingDocument, page: DocPage, lists: ListState) -> None:
        self.doc = doc
        self.page = page
        self.lists = lists

    def add(self, blocks: Sequence[Block]) -> None:
        owners = _caption_owners(blocks)
        captions: dict[int, list[Block]] = {}
        for index, owner in owners.items():
            captions.setdefault(owner, []).append(blocks[index])
        for index, block in enumerate(blocks):
            if index in owners:
                continue  # added with the table or picture it captions
            item = self._item(block)
            if item is not None:
                for caption in captions.get(index, []):
                    self._caption(caption, item)

    def _prov(self, block: Block, text: str) -> list[ProvenanceItem]:
        """One provenance per box, fractions of the page image turned into page points.

        The boxes are fractions of the page as drawn (pdfium's size is already
        swapped for a page rotated 90 or 270 degrees), so scaling by the page's
        drawn size in points gives docling's page frame; y flips for the
        bottom-left origin docling's PDF pipeline stores.
        """
        from docling_core.types.doc import BoundingBox, CoordOrigin, ProvenanceItem

        width, height = self.page.width, self.page.height
        boxes: Sequence[Box] = block.boxes or ((0.0, 0.0, 1.0, 1.0),)
        return [
            ProvenanceItem(
                page_no=self.page.page,
                bbox=BoundingBox(
                    l=left * width,
                    t=(1.0 - top) * height,
                    r=right * width,
                    b=(1.0 - bottom) * height,
                    coord_origin=CoordOrigin.BOTTOMLEFT,
                ),
                charspan=(0, len(text)),
            )
            for left, top, right, bottom in boxes
        ]

    def _item(self, block: Block) -> NodeItem | None:
        from docling_core.types.doc import ContentLayer, DocItemLabel

        doc, label, text = self.doc, block.label, _WRAPPERS.sub("", block.text).strip()
        if label in _PAGE_HEADERS | _PAGE_FOOTERS:
            if not text:
                return None
            kind = DocItemLabel.PAGE_HEADER if label in _PAGE_HEADERS else DocItemLabel.PAGE_FOOTER
            prov = self._prov(block, text)
            furniture: NodeItem = doc.add_text(
                label=kind, text=text, prov=prov[0], content_layer=ContentLayer.FURNITURE
            )
            _more_prov(furniture, prov)
            return furniture  # furniture does not interrupt a list running over the page break
        if label == TEXT and (entries := list_entries(text)) is not None:
            return self.lists.add(entries, self._prov(block, text))
        self.lists.close()
        if block.is_image:
            prov = self._prov(block, "")
            image = self._figure(block)
            picture: NodeItem = doc.add_picture(prov=prov[0], image=image)
            _more_prov(picture, prov)
            return picture
        if label == TEXT and (markdown_image := _MARKDOWN_IMAGE.match(text)):
            return self._markdown_picture(block, markdown_image["alt"].strip())
        if label == TABLE:
            data = table_data(text)
            if data is not None:
                prov = self._prov(block, "")
                table: NodeItem = doc.add_table(data=data, prov=prov[0])
                _more_prov(table, prov)
                return table
        if not text:
            return None
        prov = self._prov(block, text)
        item: NodeItem
        if label == TITLE:
            item = doc.add_title(text=_heading_text(text), orig=text, prov=prov[0])
        elif label == SUB_TITLE:
            heading = _HEADING.match(text)
            level = max(1, len(heading.group(1)) - 1) if heading else 1
            item = doc.add_heading(
                text=_heading_text(text), orig=text, level=min(level, 100), prov=prov[0]
            )
        elif label == EQUATION:
            item = doc.add_formula(text=_latex(text), orig=text, prov=prov[0])
        elif label == CODE:
            item = doc.add_code(text=text, prov=prov[0])
        elif label in _FOOTNOTES:
            item = doc.add_text(label=DocItemLabel.FOOTNOTE, text=text, prov=prov[0])
        elif label in IMAGE_CAPTIONS | TABLE_CAPTIONS:
            item = doc.add_text(label=DocItemLabel.CAPTION, text=text, prov=prov[0])
        else:  # text, and labels docling has no counterpart for: their text is kept
            item = doc.add_text(label=DocItemLabel.TEXT, text=text, prov=prov[0])
        _more_prov(item, prov)
        return item

    def _markdown_picture(self, block: Block, alt: str) -> NodeItem:
        """A chat model's Markdown image: a picture on the page, its alt text as caption."""
        from docling_core.types.doc import DocItemLabel

        prov = self._prov(block, "")
        picture: NodeItem = self.doc.add_picture(prov=prov[0])
        _more_prov(picture, prov)
        if alt:
            caption = self.doc.add_text(
                label=DocItemLabel.CAPTION, text=alt, prov=self._prov(block, alt)[0], parent=picture
            )
            picture.captions.append(caption.get_ref())  # type: ignore[attr-defined]
        return picture

    def _figure(self, block: Block) -> ImageRef | None:
        """The picture's crop in the figures folder, if there is one and it reads as an image.

        Referenced (the default), only the file's header is read, for its
        pixel size; embedded, its bytes go into the document as a data URI
        as they are (no re-encoding). The resolution follows from the pixel
        size over the box's width in points.
        """
        page = self.page
        if page.images == "none" or page.figures_dir is None or not block.figures:
            return None
        if not block.boxes:
            return None
        from docling_core.types.doc import ImageRef, Size
        from PIL import Image, UnidentifiedImageError
        from pydantic import AnyUrl

        path = page.figures_dir / block.figures[0]
        try:
            with Image.open(path) as crop:
                width, height = crop.size
                mimetype = Image.MIME.get(crop.format or "", "image/jpeg")
            data = path.read_bytes() if page.images == "embedded" else b""
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
            return None
        left, _, right, _ = block.boxes[0]
        box_inches = (right - left) * page.width / 72
        dpi = round(width / box_inches) if box_inches > 0 else 72
        uri: AnyUrl | Path = Path(page.figures_dir.name) / block.figures[0]
        if page.images == "embedded":
            uri = AnyUrl(f"data:{mimetype};base64,{base64.b64encode(data).decode('ascii')}")
        return ImageRef(
            mimetype=mimetype, dpi=max(1, dpi), size=Size(width=width, height=height), uri=uri
        )

    def _caption(self, block: Block, owner: NodeItem) -> None:
        """A caption as a child of its table or picture, listed in its ``captions``."""
        from docling_core.types.doc import DocItemLabel

        text = _WRAPPERS.sub("", block.text).strip()
        if not text:
            return
        prov = self._prov(block, text)
        caption = self.doc.add_text(
            label=DocItemLabel.CAPTION, text=text, prov=prov[0], parent=owner
        )
        _more_prov(caption, prov)
        owner.captions.append(caption.get_ref())  # type: ignore[attr-defined]


def _more_prov(item: Any, prov: list[ProvenanceItem]) -> None:
    """A block drawn in several boxes (one cut by a column) keeps every box."""
    item.prov.extend(prov[1:])


def _caption_owners(blocks: Sequence[Block]) -> dict[int, int]:
    """Index of each caption block -> index of the table or picture beside it.

    DeepSeek-OCR writes a table's caption just before the table and a
    figure's just after it, so the block after is tried first for a table
    caption and the block before for a figure caption, then the other side.
    A caption with no table or picture next to it stays a caption of its own.
    """
    owners: dict[int, int] = {}
    taken: set[int] = set()
    for index, block in enumerate(blocks):
        if block.label in TABLE_CAPTIONS:
            wanted, order = frozenset({TABLE}), (index + 1, index - 1)
        elif block.label in IMAGE_CAPTIONS:
            wanted, order = IMAGES, (index - 1, index + 1)
        else:
            continue
        for other in order:
            if 0 <= other < len(blocks) and blocks[other].label in wanted:
                owners[index] = other
                taken.add(other)
                break
    return owners


def _latex(text: str) -> str:
    """Display math without its delimiters (``\\[ \\]``, ``$$``): docling stores bare LaTeX."""
    for opening, closing in (("\\[", "\\]"), ("$$", "$$"), ("\\(", "\\)")):
        if text.startswith(opening) and text.endswith(closing) and len(text) > 2 * len(opening):
            return text[len(opening) : -len(closing)].strip()
    return text


def _heading_text(text: str) -> str:
    return _HEADING.sub("", text, count=1).strip()
