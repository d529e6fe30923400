"""What the pipeline takes pages from: a PDF (``render.py``) or image files (``sources.py``)."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from .pages import PageImage

__all__ = ["PageSource"]


class PageSource(abc.ABC):
    """A document the pipeline can take pages from: a PDF here, images in ``sources.py``."""

    @property
    @abc.abstractmethod
    def page_count(self) -> int:
        """Number of pages; 0 until :meth:`open` has succeeded."""

    @abc.abstractmethod
    async def open(self) -> int:
        """Validate and open; return the page count."""

    @abc.abstractmethod
    async def render(self, page_no: int) -> PageImage:
        """The 1-based page ``page_no``, encoded and ready to send."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the document; safe to call more than once."""

    @abc.abstractmethod
    async def page_size(self, page_no: int) -> tuple[float, float]:
        """Width and height of page ``page_no`` in points (1/72 in), as it is drawn."""

    @property
    def encrypted(self) -> bool:
        """Whether the document was opened with a password (its text is protected at rest)."""
        return False

    @abc.abstractmethod
    async def content_sha256(self) -> str:
        """The SHA-256 of the bytes being rendered, read through the open descriptor."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
