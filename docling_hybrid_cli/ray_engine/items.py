"""What travels between the driver and its tasks (pickled by Ray, so plain dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass

from ..pages import PageResult

__all__ = ["PageDone", "RangeSpec", "RangeStats", "Replayed", "TaskHooks"]


@dataclass(frozen=True, slots=True)
class TaskHooks:
    """Test seams, set only by the driver's Python API (never by a flag or a config key).

    ``exit_after_pages``: on its first attempt, a task's worker process exits
    (as if killed) once this many of its pages have reached the driver.
    """

    exit_after_pages: int | None = None


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """One task's share of a document: which pages, and how to open its input."""

    task: str
    """The task's key in the run (``<document index>:<first page>[:repair]``)."""
    name: str
    """The input's file name: the worker writes the bytes under it."""
    pages: tuple[int, ...]
    figure_prefix: str
    """``<stem>_images/``: figure links as the driver's output names them."""
    extract_text: bool
    password: str | None = None
    hooks: TaskHooks = TaskHooks()


@dataclass(frozen=True, slots=True)
class PageDone:
    """A page in its final state, converted or failed."""

    result: PageResult


@dataclass(frozen=True, slots=True)
class Replayed:
    """A retried task's placeholder for a page an earlier attempt already delivered.

    It only keeps the stream's numbering: Ray drops it, as the index is taken.
    """

    page: int


@dataclass(frozen=True, slots=True)
class RangeStats:
    """The task's last item: render figures for the document's summary."""

    render_ms: float
    encode_ms: float
    image_bytes: int
    node: str = ""
    """The Ray node the task ran on (its id): the summary counts the nodes used."""
