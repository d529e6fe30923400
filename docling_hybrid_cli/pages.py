"""Value objects that travel between the renderer, the backends and the output.

One page is the unit of work: the renderer makes a :class:`PageImage`, a
backend turns it into a :class:`PageText`, and the pipeline wraps the outcome
in a :class:`PageResult` that is either converted or failed. A converted page
may be *empty* -- blank, or no backend found text on it -- and then says why;
it is never silently empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .blocks import Block, markdown_blocks
from .errors import BackendError, BackendUnavailable
from .quality.record import PageQuality
from .textclean import one_line

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
    text_boxes: tuple[tuple[float, float, float, float] | None, ...] = field(default=(), repr=False)
    """Where each line of ``text_layer`` is, as page fractions (None: blank or unknown)."""
    figure_prefix: str = ""
    render_ms: float = 0.0
    encode_ms: float = 0.0
    crop_figure: CropFigure | None = field(default=None, repr=False, compare=False)
    blank: bool = False
    """The renderer saw no text layer and a near-uniform image: nothing to ask a model about."""


@dataclass(frozen=True, slots=True)
class Figure:
    """An image cropped from a page, written next to the Markdown as ``name``."""

    name: str
    data: bytes = field(repr=False)  # a repr of page-sized bytes would cost MBs


@dataclass(frozen=True, slots=True)
class AttemptError:
    """One failed attempt, kept for the report: which backend, what went wrong.

    ``error`` is the message without the backend's name (the record names the
    backend already); ``step`` is the loop-ladder step that failed, if any.
    """

    backend: str
    error: str
    kind: str
    status: int | None = None
    step: str = ""
    transient: bool = False
    """The server could not answer *now* (5xx, 429, a dropped connection, a timeout, an
    open breaker): worth one more pass at the end of the document, unlike a rejection
    or an unusable answer, which would only repeat."""

    @classmethod
    def of(cls, backend: str, exc: BackendError) -> AttemptError:
        return cls(
            backend=backend,
            error=one_line(str(exc).removeprefix(f"{backend}: ")),
            kind=type(exc).__name__,
            status=exc.status,
            step=exc.step,
            transient=isinstance(exc, BackendUnavailable),
        )


@dataclass(frozen=True, slots=True)
class PageText:
    """What one backend made of one page.

    ``blocks`` is the structured page -- what is checkpointed and what the
    output's Markdown is rendered from, in the run's style. ``markdown`` is
    the backend's own text of the page, unstyled (tags removed, tables and
    math as the model wrote them): reports count it, and a backend that only
    has Markdown may give just that -- :meth:`page_blocks` splits it.

    ``step`` names the loop-ladder step whose answer this is ("" without a
    ladder), ``failed_steps`` the steps before it that failed on the same
    backend. ``empty_reason`` marks an empty page (``markdown`` is then "").
    """

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
    replica: str = ""
    """The server that answered, when the backend has one (its URL, no credentials)."""
    step: str = ""
    failed_steps: tuple[AttemptError, ...] = ()
    empty_reason: str | None = None
    blocks: tuple[Block, ...] = field(default=(), repr=False)
    dollars_are_math: bool = True
    """Whether a ``$`` in the text may delimit math (a chat model asked for ``$`` math); False
    when every ``$`` is a literal dollar (DeepSeek-OCR writes math as ``\\( \\)``, OCR'd text
    has no math markup), so the style escapes them all."""

    @property
    def empty(self) -> bool:
        return self.empty_reason is not None

    def page_blocks(self) -> tuple[Block, ...]:
        """The structured page: the backend's blocks, else the blocks of its Markdown."""
        return self.blocks or markdown_blocks(self.markdown)


@dataclass(slots=True)
class PageResult:
    """The final state of one page: converted (``text`` set, maybe empty) or failed (``errors``)."""

    page: int
    text: PageText | None = None
    errors: list[AttemptError] = field(default_factory=list)
    attempts: int = 0
    latency_s: float = 0.0
    from_cache: bool = False
    quality: PageQuality | None = None
    """Agreement with the page's own text layer (``quality/review.py``); None: not checked."""

    @property
    def ok(self) -> bool:
        """Converted: page text, or an empty page with its reason."""
        return self.text is not None

    @property
    def empty(self) -> bool:
        return self.text is not None and self.text.empty
