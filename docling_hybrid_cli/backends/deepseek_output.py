"""Turn DeepSeek-OCR's raw grounded output into the page's blocks and figure crops.

Prompted with ``<|grounding|>``, DeepSeek-OCR prefixes every layout block with
``<|ref|>LABEL<|/ref|><|det|>[[x1, y1, x2, y2], ...]<|/det|>`` (coordinates
normalised to 0-999 of the page image) and writes the block's content on the
lines after it: Markdown text, HTML tables, LaTeX math, captions in
``<center>``. DeepSeek's own scripts crop ``image`` blocks into files, delete
every other tag block and apply a few text fixes
(https://github.com/deepseek-ai/DeepSeek-OCR/blob/main/DeepSeek-OCR-master/DeepSeek-OCR-vllm/run_dpsk_ocr_pdf.py).
We keep what they delete: every block's label, boxes and raw content become a
:class:`~docling_hybrid_cli.blocks.Block`, which the output styles at write
time. The model's output is not always well formed (stray, nested or
duplicated tags, unparsable coordinates), and a single bad page must never
crash a whole document, so every step here degrades to "drop the tag, keep the
text" instead of raising.

One habit of the model is undone here: for a table with a caption above it,
it often writes an empty ``table`` block, then a ``table_caption`` block
holding the caption *and* the table's HTML. The HTML is moved back into a
table block with the table's box, after its caption.
"""

from __future__ import annotations

import ast
import io
import logging
import math
import re
from dataclasses import dataclass, replace

from PIL import Image

from docling_hybrid_cli.blocks import (
    IMAGES,
    TABLE,
    TEXT,
    Block,
    Box,
    markdown_blocks,
    page_fractions,
)
from docling_hybrid_cli.html_tables import table_spans
from docling_hybrid_cli.pages import Figure, PageImage

__all__ = ["DeepSeekPage", "clean_deepseek_output"]

_log = logging.getLogger(__name__)

_COORD_SCALE = 999
"""DeepSeek normalises boxes to 0-999 (its own code divides by 999, not 1000)."""

_MAX_COORDS_CHARS = 4096
"""A repetition loop can emit a huge ``<|det|>`` body; refuse to literal_eval it."""

_MAX_COORD = 100_000
"""Coordinates are 0-999; anything far outside is garbage (and a 400-digit integer
would overflow ``float``)."""

_LABEL = re.compile(r"[a-z][a-z0-9_-]{0,63}")
"""A label as DeepSeek-OCR writes them; anything else (a hallucinated label) is read as text."""
_SENTINEL = re.compile("\x00([0-9]+)\x00")
"""Where a grounding block stood while the tags around it are cleaned (NUL never reaches here)."""

# DeepSeek's end-of-sentence token uses FULLWIDTH VERTICAL LINE (U+FF5C) and
# LOWER ONE EIGHTH BLOCK (U+2581); accept ASCII bars too in case a server normalised them.
_EOS = re.compile("<[|\uff5c]end\u2581of\u2581sentence[|\uff5c]>")

# One grounding block. Repeated opening/closing tags are swallowed so duplicated
# tags still form one block; label and coordinates may not contain another ``<|``
# token, which makes a nested block match at its innermost ``<|ref|>``.
_BLOCK = re.compile(
    r"(?:<\|ref\|>\s*)+((?:(?!<\|).)*?)(?:\s*<\|/ref\|>)+"
    r"\s*(?:<\|det\|>\s*)+((?:(?!<\|).)*?)(?:\s*<\|/det\|>)+",
    re.DOTALL,
)
# A label whose coordinates never came: labels are single words, so the match
# stays short and cannot swallow page text between two unrelated stray tags.
_ORPHAN_REF = re.compile(r"<\|ref\|>\s*[\w-]{0,40}\s*<\|/ref\|>")
# Coordinates without a label; stops at any other tag or a paragraph break for
# the same reason.
_ORPHAN_DET = re.compile(r"<\|det\|>(?:(?!<\||\n[ \t]*\n|\x00).)*?<\|/det\|>", re.DOTALL)
_STRAY_TOKEN = re.compile(r"<\|/?(?:ref|det|grounding)\|>")
# A run of the same tag, as a loop emits: collapsed to one tag before any other
# pattern runs. ``_BLOCK`` accepts repeated tags, but a regex tried at every
# position of a run of n unclosed tags re-reads the run from each: n² steps
# (8,000 tags took seconds, holding the GIL). Collapsing is one pass.
_TAG_RUN = re.compile(r"(<\|/?(?:ref|det)\|>)(?:\s*\1)+")
_CENTER = re.compile(r"</?center>", re.IGNORECASE)
# Two or more blank (or whitespace-only) lines become one blank line.
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n){2,}")

_Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class DeepSeekPage:
    """One page of DeepSeek-OCR output after post-processing.

    ``blocks`` is the structured page (what is checkpointed and styled);
    ``markdown`` the same page as flat text -- tags removed, figures linked,
    tables and math as the model wrote them -- for reports and logs.
    """

    markdown: str
    figures: tuple[Figure, ...]
    blocks: tuple[Block, ...]


class _FigureCropper:
    """Crops figure boxes from one page.

    The source draws each box afresh when it can (``PageImage.crop_figure``:
    sharper, and ~3x cheaper than decoding the page). Otherwise -- image
    inputs, or the source failing -- the page image is decoded, at most once
    and only at the first image block: most pages have none, and decoding a
    2000 px page costs more than the rest of the cleaning.
    """

    def __init__(self, page: PageImage, jpeg_quality: int) -> None:
        self._page = page
        self._quality = jpeg_quality
        self._image: Image.Image | None = None
        self._decode_failed = False
        self._redraw = page.crop_figure
        self.figures: list[Figure] = []

    def crop(self, boxes: list[_Box]) -> tuple[str, ...]:
        """Crop every usable box; the names of the figures made, in order."""
        names: list[str] = []
        for box in boxes:
            pixels = self._pixel_box(box)
            if pixels is None:
                continue
            data = self._crop(pixels)
            if data is None:
                break  # the page image cannot be decoded: no figure on this page can be cut
            name = f"page-{self._page.page:04d}-fig-{len(self.figures) + 1}.jpg"
            self.figures.append(Figure(name=name, data=data))
            names.append(name)
        return tuple(names)

    def _crop(self, pixels: tuple[int, int, int, int]) -> bytes | None:
        if self._redraw is not None:
            data = self._redraw(pixels, self._quality)
            if data is not None:
                return data
            self._redraw = None  # the source could not; cut from the page image from now on
        image = self._decoded()
        if image is None:
            return None
        buf = io.BytesIO()
        image.crop(pixels).save(buf, format="JPEG", quality=self._quality)
        return buf.getvalue()

    def _decoded(self) -> Image.Image | None:
        if self._image is None and not self._decode_failed:
            try:
                # An in-memory file needs no closing; once loaded the image is
                # used as it is (a copy of a page-sized image cost ~6 ms).
                opened = Image.open(io.BytesIO(self._page.data))
                opened.load()
                # JPEG cannot hold alpha or palettes; normalise once, not per crop.
                keep = opened.mode in ("RGB", "L")
                self._image = opened if keep else opened.convert("RGB")
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                # Figures are an extra; losing them must not lose the page text.
                self._decode_failed = True
                _log.warning("page %d: cannot decode image for figures: %s", self._page.page, exc)
        return self._image

    def _pixel_box(self, box: _Box) -> tuple[int, int, int, int] | None:
        """Scale a 0-999 box to pixels, order and clamp it; None if nothing is left."""
        img_w, img_h = self._page.width, self._page.height
        sx = img_w / _COORD_SCALE
        sy = img_h / _COORD_SCALE
        x1, y1, x2, y2 = box
        left, right = sorted((round(x1 * sx), round(x2 * sx)))
        top, bottom = sorted((round(y1 * sy), round(y2 * sy)))
        left, right = min(max(left, 0), img_w), min(max(right, 0), img_w)
        top, bottom = min(max(top, 0), img_h), min(max(bottom, 0), img_h)
        if right <= left or bottom <= top:
            return None
        return left, top, right, bottom


def _parse_boxes(coords: str) -> list[_Box] | None:
    """Parse a ``[[x1, y1, x2, y2], ...]`` literal; None if it is anything else.

    ``ast.literal_eval`` because the text comes from a model and must never be
    executed. A single bad box rejects the whole block: a half-understood
    coordinate list is more likely a garbled one than a partly right one.
    """
    if len(coords) > _MAX_COORDS_CHARS:
        return None
    try:
        value = ast.literal_eval(coords.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, list | tuple):
        return None
    boxes: list[_Box] = []
    for box in value:
        if not isinstance(box, list | tuple) or len(box) != 4:
            return None
        numbers: list[float] = []
        for v in box:
            if isinstance(v, bool) or not isinstance(v, int | float):
                return None
            # The range first: math.isfinite itself overflows on a 400-digit integer.
            if not (-_MAX_COORD <= v <= _MAX_COORD and math.isfinite(v)):
                return None
            numbers.append(float(v))
        boxes.append((numbers[0], numbers[1], numbers[2], numbers[3]))
    return boxes


def clean_deepseek_output(
    raw: str, page: PageImage, *, crop_figures: bool = True, jpeg_quality: int = 90
) -> DeepSeekPage:
    """Clean one page of raw DeepSeek-OCR output into blocks, and crop its figures.

    Each grounding block becomes a block with its label, its boxes (as page
    fractions) and its content; text before the first block is split like
    any Markdown answer. Image blocks are cropped into JPEGs (one per box,
    numbered per page in reading order) named in the block's ``figures``.
    With ``crop_figures=False`` no figure is made and the page image is
    never decoded.
    """
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be 1-100, got {jpeg_quality}")
    cropper = _FigureCropper(page, jpeg_quality)
    found: list[Block] = []

    def grounded(match: re.Match[str]) -> str:
        label = match.group(1).strip().lower()
        boxes = _parse_boxes(match.group(2))
        figures: tuple[str, ...] = ()
        if label in IMAGES and crop_figures and boxes is not None:
            figures = cropper.crop(boxes)
        elif label in IMAGES and boxes is None:
            _log.debug("page %d: image block with bad coordinates: no figure", page.page)
        fractions = tuple(page_fractions(box, _COORD_SCALE) for box in boxes or ())
        found.append(Block(label if _LABEL.fullmatch(label) else TEXT, "", fractions, figures))
        return f"\x00{len(found) - 1}\x00"

    text = _EOS.sub("", raw.replace("\x00", ""))
    text = _TAG_RUN.sub(r"\1", text)
    text = _BLOCK.sub(grounded, text)
    text = _ORPHAN_REF.sub("", text)
    text = _ORPHAN_DET.sub("", text)
    text = _STRAY_TOKEN.sub("", text)
    text = text.replace("\\coloneqq", ":=").replace("\\eqqcolon", "=:")
    parts = _SENTINEL.split(text)
    blocks = list(markdown_blocks(parts[0]))
    for index, content in zip(parts[1::2], parts[2::2], strict=True):
        blocks.append(replace(found[int(index)], text=content.strip()))
    flat = _SENTINEL.sub(lambda m: _links(found[int(m.group(1))], page.figure_prefix), text)
    flat = _BLANK_LINES.sub("\n\n", _CENTER.sub("", flat))
    return DeepSeekPage(
        markdown=flat.strip(),
        figures=tuple(cropper.figures),
        blocks=tuple(_tables_out_of_captions(blocks)),
    )


def _links(block: Block, prefix: str) -> str:
    return "".join(f"![]({prefix}{name})\n" for name in block.figures)


def _tables_out_of_captions(blocks: list[Block]) -> list[Block]:
    """Tables written inside another block become table blocks of their own.

    The model's usual case: an empty ``table`` block (which has the table's
    box), then the caption block holding the caption and the table's HTML.
    The HTML moves into a table block with that box, after the caption;
    text after the table stays in a block with the caption's label.
    """
    out: list[Block] = []
    for block in blocks:
        spans = table_spans(block.text) if block.label != TABLE else []
        if not spans:
            out.append(block)
            continue
        boxes: tuple[Box, ...] = ()
        if out and out[-1].label == TABLE and not out[-1].text:
            boxes = out.pop().boxes
        pos = 0
        for start, end in spans:
            if before := block.text[pos:start].strip():
                out.append(Block(block.label, before, block.boxes if pos == 0 else ()))
            out.append(Block(TABLE, block.text[start:end].strip(), boxes))
            boxes, pos = (), end
        if after := block.text[pos:].strip():
            out.append(Block(block.label, after))
    return out
