"""Which pages of each task the driver already has: what a retried task must not redo.

A Ray streaming generator task that dies is run again from the start, and
Ray keeps, of the new attempt's output, only what comes after the items it
already received (it numbers a task's yields and drops an index it has).
So a retry must (1) not convert the pages the driver already has -- they are
checkpointed, sending them again would cost a request each -- and (2) yield
as many items as were received before, in their place, so that its first
new page lands on the first new index. The driver records each page it
received here, after checkpointing it; a new attempt asks :meth:`StreamLedger.start`
for its attempt number and those pages, yields one cheap placeholder per page,
and converts only the rest.

Plain Python, held by the run's coordinator actor (:mod:`.coordinator`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["StreamLedger", "TaskStart"]


@dataclass(frozen=True, slots=True)
class TaskStart:
    """What an attempt learns when it starts: which attempt it is, and the pages already back."""

    attempt: int
    received: tuple[int, ...]


@dataclass
class _Task:
    attempts: int = 0
    received: list[int] = field(default_factory=list)


class StreamLedger:
    """Per task key: attempts started and pages received by the driver, in stream order."""

    def __init__(self) -> None:
        self._tasks: dict[str, _Task] = {}

    def start(self, task: str) -> TaskStart:
        entry = self._tasks.setdefault(task, _Task())
        attempt = entry.attempts
        entry.attempts += 1
        return TaskStart(attempt, tuple(entry.received))

    def received(self, task: str, page: int) -> None:
        self._tasks.setdefault(task, _Task()).received.append(page)

    def count(self, task: str) -> int:
        entry = self._tasks.get(task)
        return len(entry.received) if entry else 0

    def attempts(self, task: str) -> int:
        entry = self._tasks.get(task)
        return entry.attempts if entry else 0

    def forget(self, task: str) -> None:
        """The task is over (its stream ended): its record is no longer needed."""
        self._tasks.pop(task, None)
