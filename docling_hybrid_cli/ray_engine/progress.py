"""Progress of a Ray run: several documents at once, so every line names its document.

The local engine's displays follow one document at a time; a Ray run
converts many together, and its pages arrive as tasks finish them. Plain
lines on stderr (on a terminal too), one per finished page, each with the
document's name and the run's tally.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..pages import PageResult, PageState
    from ..pipeline import DocumentJob, DocumentResult

__all__ = ["BatchProgress"]


class BatchProgress:
    """The run's tally; :meth:`document` gives each document its own observer."""

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self.total = 0
        self.done = 0
        self.failed = 0
        self._started = time.perf_counter()

    def line(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def notice(self, message: str) -> None:
        self.line(message)

    def document(self) -> DocumentProgress:
        return DocumentProgress(self)

    def close(self) -> None:
        return None


class DocumentProgress:
    """One document's :class:`~docling_hybrid_cli.pipeline.ConvertObserver`, for the batch tally."""

    def __init__(self, batch: BatchProgress) -> None:
        self.batch = batch
        self.name = ""

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self.name = job.source.name
        self.batch.total += len(pages)
        self.batch.line(f"converting {job.source} ({len(pages)} pages) -> {job.output}")

    def page_state(self, page: int, state: PageState, detail: str = "") -> None:
        if self.batch.verbose:
            self.batch.line(f"{self.name} page {page}: {state}" + (f": {detail}" if detail else ""))

    def page_finished(self, result: PageResult) -> None:
        batch = self.batch
        batch.done += 1
        rate = batch.done / max(time.perf_counter() - batch._started, 1e-9)
        if result.text is not None and result.text.empty_reason is not None:
            how = f"empty: {result.text.empty_reason}"
        elif result.text is not None:
            how = "from checkpoint" if result.from_cache else f"converted by {result.text.backend}"
        else:
            batch.failed += 1
            how = "FAILED: " + "; ".join(f"{e.backend}: {e.error}" for e in result.errors)
        batch.line(
            f"{self.name} page {result.page} ({batch.done}/{batch.total}, {rate:.2f} pages/s) {how}"
        )

    def document_finished(self, result: DocumentResult) -> None:
        return None

    def notice(self, message: str) -> None:
        self.batch.notice(message)
