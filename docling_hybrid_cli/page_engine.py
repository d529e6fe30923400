"""Who converts a document's pages: this process, or an engine such as ``convert --ray``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .checkpoint import PageCache
    from .pages import PageResult
    from .pipeline import DocumentJob, DocumentResult

__all__ = ["PageEngine", "pages_by_engine"]


class PageEngine(Protocol):
    """Who converts a document's pages, in place of this process (``convert --ray``).

    :func:`convert_document` keeps what must stay with the output -- the lock,
    the checkpoints, the ordered writer, the observer -- and hands the pages
    not checkpointed yet to the engine, which calls ``finish`` once per page
    as each one is done, in any order, and may add its render figures to
    ``result``. A page the engine cannot deliver must still be finished, as a
    failed page.
    """

    async def __call__(
        self,
        job: DocumentJob,
        pages: list[int],
        finish: Callable[[PageResult], None],
        result: DocumentResult,
    ) -> None: ...


async def pages_by_engine(
    engine: PageEngine,
    pages: list[int],
    cache: PageCache | None,
    finish: Callable[[PageResult], None],
    result: DocumentResult,
) -> None:
    """The checkpointed pages from the cache, one at a time; the others from ``engine``."""
    todo: list[int] = []
    for page_no in pages:
        if cache is not None and (cached := cache.load(page_no)) is not None:
            finish(cached)
        else:
            todo.append(page_no)
    if todo:
        await engine(result.job, todo, finish, result)
