"""Overlap a batch's documents so the server does not idle at every document's tail.

Converted one after another, each document ends with a drain: its last few
pages are in flight and every other request slot is empty until they come
back. Here the request slots belong to the batch, and the next document
opens as soon as the open ones have handed every page to their workers, so
its pages fill the slots the tail leaves free::

    doc 1  ████████████████▒▒▒          (▒ its last pages in flight)
    doc 2                  ████████▒▒
    doc 3                          ██████▒▒

What stays bounded:

* **Requests in flight**: one :class:`~docling_hybrid_cli.slots.RequestSlots`
  for the batch, so ``convert.concurrency`` counts across documents.
* **Order**: free slots go to the earliest open document first, then to the
  lowest page (:meth:`DocumentTurn.priority`), so the oldest document
  finishes first and its Markdown is not held back by a later one.
* **Memory**: a document opens only when every open one has handed off its
  pages, when fewer than ``convert.open_documents`` are open, and when the
  open ones have fewer than ``concurrency + render_ahead`` pages left -- the
  pages one document alone may hold rendered. Pages waiting for a slot
  therefore stay about what one document's run holds, whatever the batch.

Each document still runs :func:`~docling_hybrid_cli.pipeline.convert_document`
exactly as alone: its own lock, ordered atomic output, checkpoints and
end-of-document pass for transient failures. Results come back in input
order, whichever finished first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from .pipeline import DocumentJob, first_error
from .slots import RequestSlots
from .turns import DocumentTurn

__all__ = ["convert_overlapping"]

T = TypeVar("T")


async def convert_overlapping(
    jobs: Sequence[DocumentJob],
    convert_one: Callable[[DocumentJob, DocumentTurn], Awaitable[T]],
    slots: RequestSlots,
    *,
    open_documents: int,
    render_ahead: int,
) -> list[T]:
    """Run ``convert_one`` for every job, overlapping them; results in the order of ``jobs``.

    ``convert_one`` decides which of a document's errors are its own (returned
    as a value) and which end the batch (raised): a raised error cancels
    every other open document, as Ctrl-C does, and is raised here unwrapped.
    """
    if open_documents < 1:
        raise ValueError("at least one document must be allowed open")
    wake = asyncio.Event()
    open_turns: dict[int, DocumentTurn] = {}
    results: dict[int, T] = {}

    def room_for_another() -> bool:
        if not open_turns:
            return True
        turns = open_turns.values()
        return (
            len(open_turns) < open_documents
            and all(turn.handed_off for turn in turns)
            and sum(turn.unfinished for turn in turns) < slots.size + render_ahead
        )

    async def run(rank: int, job: DocumentJob, turn: DocumentTurn) -> None:
        try:
            results[rank] = await convert_one(job, turn)
        finally:
            del open_turns[rank]
            wake.set()

    try:
        async with asyncio.TaskGroup() as group:
            for rank, job in enumerate(jobs):
                while not room_for_another():
                    wake.clear()
                    await wake.wait()
                turn = DocumentTurn(slots, rank=rank, wake=wake)
                open_turns[rank] = turn
                group.create_task(run(rank, job, turn))
    except BaseExceptionGroup as group_error:
        raise first_error(group_error) from None
    return [results[rank] for rank in range(len(jobs))]
