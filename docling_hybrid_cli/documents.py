"""A document of a run and its outcome: what the pipeline takes and gives back.

Plain data, apart from the pipeline that fills it
(:mod:`~docling_hybrid_cli.pipeline`, which re-exports both), so reports,
the batch and the engines can hold results without the machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .pages import PageResult

__all__ = ["DocumentJob", "DocumentResult"]


@dataclass(frozen=True)
class DocumentJob:
    """One input document and where its Markdown goes."""

    source: Path
    output: Path
    pages: str | None = None
    password: str | None = None


@dataclass
class DocumentResult:
    """Every page's outcome, in page order, plus timings for the summary and report."""

    job: DocumentJob
    # repr=False: asyncio.run formats the main task's result when it restores the
    # SIGINT handler, and a full repr of a long document's pages is a transient
    # string far larger than the pages themselves (docs/PERFORMANCE.md, target 3).
    pages: list[PageResult] = field(default_factory=list, repr=False)
    page_count: int = 0
    seconds: float = 0.0
    render_ms: float = 0.0
    encode_ms: float = 0.0
    image_bytes: int = 0

    @property
    def converted(self) -> list[PageResult]:
        return [p for p in self.pages if p.ok]

    @property
    def failed(self) -> list[PageResult]:
        return [p for p in self.pages if not p.ok]

    @property
    def empty(self) -> list[PageResult]:
        """Converted pages with nothing to write: blank, or no backend found text."""
        return [p for p in self.pages if p.empty]

    @property
    def by_backend(self) -> dict[str, int]:
        """Pages each backend converted; empty pages are no backend's work."""
        counts: dict[str, int] = {}
        for page in self.converted:
            assert page.text is not None
            if not page.text.empty:
                counts[page.text.backend] = counts.get(page.text.backend, 0) + 1
        return counts

    @property
    def completion_tokens(self) -> int:
        return sum((p.text.completion_tokens or 0) for p in self.converted if p.text)
