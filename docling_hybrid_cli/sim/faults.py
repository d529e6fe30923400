"""Which fault, if any, a chat request gets: first from a queue, then at random from a seeded RNG.

Tests queue exact faults with :meth:`FaultSource.inject`; the benchmark and ``--fail-rate`` draw
them at random. The RNG is seeded from the configured seed alone, so the same seed fails the same
sequence of requests the same way on every run.
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Iterable

from docling_hybrid_cli.sim.hostile import HOSTILE_KINDS

__all__ = ["DEFAULT_FAULTS", "FAULT_KINDS", "FaultSource", "check_fault_kinds"]

FAULT_KINDS = frozenset(
    {
        *("429", "429-daily", "500", "502", "503", "reset", "timeout", "empty", "length"),
        *("error200", "401", "404", "content_filter", "abort", "repetition", "finish_error"),
        *HOSTILE_KINDS,
    }
)
"""Every fault name :class:`~docling_hybrid_cli.sim.MockConfig` and ``inject`` accept.

``content_filter``, ``abort`` and ``repetition`` answer with that ``finish_reason``;
``finish_error`` with ``finish_reason: "error"``."""

DEFAULT_FAULTS = ("429", "500", "502", "503", "reset", "empty", "length", "error200")
"""The kinds drawn at random unless configured otherwise: those a run recovers from.
``timeout`` stalls for ``timeout_fault_s`` and ``401``/``404``/``429-daily`` (OpenRouter's
daily free cap, spent until midnight UTC) are permanent, so they fire only when asked for."""


def check_fault_kinds(faults: Iterable[str]) -> None:
    """Raise ValueError naming any unknown kind, so a typo fails loudly instead of never firing."""
    unknown = sorted(set(faults) - FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {sorted(FAULT_KINDS)}")


class FaultSource:
    """Hands out one fault (or None) per valid chat request.

    :meth:`inject` may be called from any thread; :meth:`draw` is called on the server's loop.
    """

    def __init__(self, fail_rate: float, kinds: tuple[str, ...], seed: int) -> None:
        check_fault_kinds(kinds)
        self._fail_rate = fail_rate
        self._kinds = kinds
        self._rng = random.Random(f"{seed}:faults")
        self._queue: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()

    def inject(self, *faults: str) -> None:
        """Queue faults for the next valid chat requests, in order, ahead of random ones."""
        check_fault_kinds(faults)
        with self._lock:
            self._queue.extend(faults)

    def draw(self) -> str | None:
        """The next queued fault, else a random one with probability ``fail_rate``, else None."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._fail_rate > 0 and self._rng.random() < self._fail_rate:
            return self._rng.choice(self._kinds)
        return None
