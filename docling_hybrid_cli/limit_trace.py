"""The bounded history of an adaptive limit's changes, for progress, reports and benchmarks.

It keeps the first :data:`TRACE_HEAD` changes and the last :data:`TRACE_TAIL`:
the ramp, and how the limit settled, in bounded memory however long the run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["TRACE_HEAD", "TRACE_TAIL", "LimitTrace", "TraceEntry"]

TRACE_HEAD = 64
TRACE_TAIL = 192
"""The trace keeps its first and its last changes: the ramp, and how it settled."""


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One change of the limit: when (clock seconds), to what, with how many in flight, why."""

    t: float
    limit: int
    in_flight: int
    reason: str

    def to_dict(self, since: float) -> dict[str, Any]:
        return {
            "t": round(self.t - since, 3),
            "limit": self.limit,
            "in_flight": self.in_flight,
            "reason": self.reason,
        }


class LimitTrace:
    """Changes noted in order; :attr:`changes` counts them all, kept or not."""

    def __init__(self) -> None:
        self._head: list[TraceEntry] = []
        self._tail: deque[TraceEntry] = deque(maxlen=TRACE_TAIL)
        self.changes = 0

    def note(self, entry: TraceEntry) -> None:
        self.changes += 1
        if len(self._head) < TRACE_HEAD:
            self._head.append(entry)
        else:
            self._tail.append(entry)

    @property
    def entries(self) -> list[TraceEntry]:
        return [*self._head, *self._tail]
