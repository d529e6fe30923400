"""A document's place in a batch whose documents overlap: shared slots, rank, progress.

The pipeline converts one document; the scheduler (:mod:`~docling_hybrid_cli.scheduler`)
decides when the next one opens. A :class:`DocumentTurn` is what they share: the
batch's request slots, the document's rank (earlier documents get free slots
first) and the two facts the scheduler waits on, reported by the pipeline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .slots import RequestSlots

__all__ = ["NOT_STARTED", "DocumentTurn"]

_RANK_SHIFT = 32
NOT_STARTED = (1 << _RANK_SHIFT) - 1
"""The page number of a worker still to take a page: its slot priority comes after every
page of its document back from a backoff, before every page of a later document."""


@dataclass
class DocumentTurn:
    """A document's place in a batch whose documents overlap (:mod:`~docling_hybrid_cli.scheduler`).

    Every document of a batch shares one :class:`RequestSlots`, so
    ``convert.concurrency`` bounds the requests in flight across documents.
    Free slots go to earlier documents first (``rank``), so the oldest open
    document finishes first and the documents open at once stay few. The
    pipeline reports back what the scheduler needs to open the next document:
    when every page went to the workers (``handed_off``) and how many pages
    are not finished yet (``unfinished``); ``wake`` is set on either change.
    """

    slots: RequestSlots
    rank: int = 0
    """The document's position in the batch: lower ranks are served first."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    handed_off: bool = False
    """Every page of the first pass is in the workers' queue or done: the next may open."""
    unfinished: int = 0
    """Pages of the document not finished yet (0 until the document is open)."""

    def priority(self, page: int) -> int:
        """The slot priority of ``page`` (``NOT_STARTED`` for a worker yet to take one).

        One int, so :class:`RequestSlots` keeps comparing plain numbers: the
        rank in the high bits, the page number below.
        """
        return (self.rank << _RANK_SHIFT) | min(page, NOT_STARTED)

    def opened(self, pages: int) -> None:
        self.unfinished = pages
        self.wake.set()

    def report(self, *, handed_off: bool = False, finished: int = 0) -> None:
        self.handed_off = self.handed_off or handed_off
        self.unfinished -= finished
        self.wake.set()
