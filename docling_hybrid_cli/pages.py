"""Value objects that travel between the renderer, the backends and the output.

One page is the unit of work: the renderer makes a :class:`PageImage`, a
backend turns it into a :class:`PageText`, and the pipeline wraps the outcome
in a :class:`PageResult` that is either converted or failed, never silently
empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AttemptError",
    "CropFigure",
    "Figure",
    "Notify",
    "PageImage",
    "PageResult",
    "PageState",
    "PageText",
]

PageState = Literal["rendering", "queued", "sent", "retrying", "falling back", "done", "failed"]
"""Where a page is on its way: the pipeline, the backends and the progress display share these."""

Notify = Callable[[PageState, str], None]
"""Progress callback: ``notify(state, detail)``, e.g. ``("retrying", "HTTP 503, in 1.2 s")``."""

CropFigure = Callable[[tuple[int, int, int, int], int], bytes | None]
"""``crop(box, jpeg_quality)``: a JPEG of the pixel box (left, top, right, bottom)
of the page image, made from the source itself, or None when it cannot be."""


@dataclass(frozen=True, slots=True)
class PageImage:
    """A rendered page, encoded and ready to send.

    ``figure_prefix`` is the relative link prefix (for example
    ``"report_images/"``) under which figures cropped from this page are linked
    from the Markdown; the pipeline sets it per document so backends need not
    know where the output goes.

    ``crop_figure``, when the source can, renders a box of the page afresh
    (for a PDF: pdfium draws just that region). It is sharper than cutting the
    box from ``data`` -- no second JPEG generation -- and ~3x cheaper than
    decoding the whole page image first (docs/PERFORMANCE.md, target 2).
    """

    page: int
    data: bytes = field(repr=False)  # a repr of page-sized bytes would cost MBs
    mime: str
    width: int
    height: int
    text_layer: str | None = None
    figure_prefix: str = ""
    render_ms: float = 0.0
    encode_ms: float = 0.0
    crop_figure: CropFigure | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Figure:
    """An image cropped from a page, written next to the Markdown as ``name``."""

    name: str
    data: bytes = field(repr=False)  # a repr of page-sized bytes would cost MBs


@dataclass(frozen=True, slots=True)
class PageText:
    """What one backend made of one page."""

    markdown: str
    backend: str = ""
    model: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    raw: str | None = None
    figures: tuple[Figure, ...] = ()
    attempts: int = 1
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptError:
    """One failed attempt, kept for the report: which backend, what went wrong."""

    backend: str
    error: str
    kind: str
    status: int | None = None
    transient: bool = False
    """The server could not answer *now* (5xx, 429, a dropped connection, a timeout, an
    open breaker): worth one more pass at the end of the document, unlike a rejection
    or an unusable answer, which would only repeat."""


@dataclass(slots=True)
class PageResult:
    """The final state of one page: converted (``text`` set) or failed (``errors``)."""

    page: int
    text: PageText | None = None
    errors: list[AttemptError] = field(default_factory=list)
    attempts: int = 0
    latency_s: float = 0.0
    from_cache: bool = False

    @property
    def ok(self) -> bool:
        return self.text is not None
