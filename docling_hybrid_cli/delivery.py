"""How many answers a replica's server delivers per round trip, counted in slow start.

:class:`~docling_hybrid_cli.concurrency.AdaptiveLimit` caps its latency-only
slow start with this count. Below the server's capacity a round trip brings
back every request of the last one; past it, never more than the server
decodes in a round trip, however many are in flight (Little's law: in flight
= rate x mean latency; BBR's bandwidth-delay product). Unlike latency, the
count shows an overshoot as soon as the answers that fit have come back, not
a round trip later when the queued ones do.
"""

from __future__ import annotations

import statistics
from collections import deque

__all__ = ["ANSWER_TIMES", "Delivery", "lower_quartile"]

ANSWER_TIMES = 4096
"""Answer times kept (bounded: a round trip's answers, at most the replica's ceiling)."""


class Delivery:
    """The most answers seen within one round trip: pure, fed with clock readings.

    The rate is counted over the lower-quartile latency (the fastest answer
    in the first round trip, before there is one) and scaled to the mean: a
    window as long as the mean would count a server slot twice whenever a page
    is quicker than the mean, and the slow-start cap multiplies that error by
    1.5; counted unscaled over a short window, a mix of short and long pages
    would read as a fraction of the real rate and stall the ramp.
    """

    def __init__(self) -> None:
        self._answers: deque[float] = deque(maxlen=ANSWER_TIMES)
        self._round: list[float] = []
        self._window_s = 0.0
        self._mean_s = 0.0
        self.per_round = 0
        """The most answers that came back within one round trip so far (0: none yet)."""

    def answer(self, now: float, latency_s: float) -> None:
        """An answer came back at ``now`` after ``latency_s``."""
        self._answers.append(now)
        self._round.append(latency_s)
        window = self._window_s or min(self._round)
        mean = self._mean_s or statistics.fmean(self._round)
        while self._answers and self._answers[0] <= now - window:
            self._answers.popleft()
        if window > 0:
            self.per_round = max(self.per_round, round(len(self._answers) * mean / window))

    def round_ended(self) -> None:
        """A round trip ended: its latencies set the window (lowest so far) and the mean."""
        if not self._round:
            return
        typical = lower_quartile(self._round)
        self._window_s = min(typical, self._window_s or typical)
        self._mean_s = statistics.fmean(self._round)
        self._round = []


def lower_quartile(values: list[float]) -> float:
    """The first quartile (the least of fewer than four): a typical fast answer, not the fastest."""
    if len(values) < 4:
        return min(values)
    return statistics.quantiles(values, n=4)[0]
