"""How many requests one replica should have in flight, found while the run goes on.

vLLM batches continuously: too few requests in flight leave the GPU idle,
too many pile up a queue until requests time out, and the right number
depends on the GPU, the page mix and ``max_num_seqs``. :class:`AdaptiveLimit`
finds it per replica, the way TCP finds a path's window:

* **Slow start.** From :data:`INITIAL_LIMIT` the limit grows with every
  answer that came back near the latency floor while the limit was in use,
  as TCP's window does per ACK: by two per answer (x3 per round trip) while
  fresh /metrics show no queue -- they show an overshoot within a scrape --
  and by half a request per answer (x1.5 per round trip) on latency alone,
  which sees a queue only when its first answers come back, a round trip
  late, by when the limit has grown once more. So on latency alone the limit
  is also capped at 1.5 x the most answers that came back within one round
  trip: below capacity that is the last round's requests (the cap is the
  ramp itself), past it the server's delivery stops rising at capacity, and
  the cap with it, as soon as the answers that fit are back (see
  :mod:`~docling_hybrid_cli.delivery`); an answer :data:`LATE` floors late
  (queued) grows nothing. Slow start then ends no lower than that delivery,
  the capacity estimate, rather than at half the overshot limit.
* **Steady state** (after the first sign of a queue, or any backoff), once
  per round trip: a gradient step ``limit * min(1, floor / latency) +
  allowance``. Below the server's capacity the latency is the floor, the
  gradient is 1 and the limit grows by the allowance (10 %); past it,
  every extra request only waits, latency grows in proportion and the step
  lands back on ``capacity + allowance``. That fixed point is the "small
  positive queue" that keeps the GPU's batch full without growing; decreases
  are smoothed (half-way per round trip), so the limit settles instead of
  oscillating.
* **Backoff** on 429/503 (x0.7) and timeouts (x0.5), at most once per round
  trip: an error from a request sent before the last backoff is already
  answered by it (TCP's one reaction per window), so a burst of errors is
  one step down, not a collapse.
* **/metrics**, when the server has vLLM's gauges: a waiting queue beyond
  :func:`queue_target` (5 % of the running batch, at least 1) cuts the limit
  at once to what would leave that queue -- this is what stops slow start
  from overshooting before any latency rises, since a queued request's
  latency is only known when it ends. In steady state the limit steers the
  waiting queue to that target; a full KV cache stops any increase. The
  latency rule stays as a safety net with a wider tolerance (batch size
  slows every sequence a little on a real GPU, which is not queueing).

The latency floor is a windowed minimum: the lowest latency of the last
:data:`FLOOR_EPOCHS` round trips, so a restarted or re-tuned server's new
speed is learnt. A standing queue (the allowance) would slowly raise such a
floor; every :data:`PROBE_EVERY_EPOCHS` round trips in latency-only mode the
limit dips to 75 % for one round trip so the queue drains and the floor is
measured afresh (BBR's ProbeRTT), a cost under 1 % of throughput.

**Latency per token.** A page's decode time grows with the tokens it
answers: a dense page of 3,000 tokens takes ten times a sparse one of 300 on
the same idle GPU. Raw latencies would read every long page as queueing and
every short one as spare capacity. So a sample whose answer reports
``completion_tokens`` is measured as seconds per ``tokens +
`` :data:`FIXED_TOKENS` -- the constant part (prefill of the image, the
round trip) counted as that many tokens, so a near-empty answer is not
mistaken for a slow one. Answers without usage are compared among
themselves in seconds; the two kinds keep separate floors.

The class is pure: no asyncio, no I/O, an injectable clock. The endpoint
pool feeds it (:meth:`~AdaptiveLimit.sent`, :meth:`~AdaptiveLimit.done`,
:meth:`~AdaptiveLimit.server_load`) and reads :attr:`~AdaptiveLimit.limit`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .delivery import Delivery, lower_quartile
from .limit_trace import TRACE_HEAD, TRACE_TAIL, LimitTrace, TraceEntry

__all__ = [
    "FIXED_TOKENS",
    "FLOOR_EPOCHS",
    "INITIAL_LIMIT",
    "PROBE_EVERY_EPOCHS",
    "AdaptiveLimit",
    "Outcome",
    "ServerLoad",
    "TRACE_HEAD",
    "TRACE_TAIL",
    "TraceEntry",
    "queue_target",
]

INITIAL_LIMIT = 16
"""Where slow start begins: TCP starts at 10 segments for the same reason -- one
request at a time wastes round trips on a server that certainly batches (vLLM's
own default batch is 256 sequences; this tool's fixed default used to be 32)."""
FIXED_TOKENS = 64
"""The constant part of a request (image prefill, network) in answer tokens."""
FLOOR_EPOCHS = 30
"""Round trips over which the latency floor is the minimum."""
PROBE_EVERY_EPOCHS = 30
"""Latency-only steady state: one round trip at 75 % this often, to re-measure the floor."""
LATE = 1.5
"""Slow start: an answer this many floors late (queued, not page-to-page jitter) grows nothing."""
SLOW_START_EXIT = 1.25
"""Slow start ends when recent answers take this much longer than the floor."""
LATENCY_SAFETY = 2.0
"""With /metrics: latency beyond this many floors still backs off (something else is wrong)."""
ALLOWANCE = 0.10
"""Steady state's increase per round trip, and so its standing queue: 10 % of the limit."""
TOLERANCE = 1.0
"""Latency-only steady state: a round trip's median within this many floors is no queue
(a median of a few dozen pages still wanders by a few per cent)."""
SMOOTHING = 0.5
"""A decrease goes this part of the way to its target per round trip."""
OVERLOAD_BACKOFF = 0.7
TIMEOUT_BACKOFF = 0.5
KV_FULL = 0.95
"""KV-cache use at which no increase is made: vLLM preempts sequences when it is full."""
RECENT_SAMPLES = 8

Outcome = Literal["ok", "overload", "timeout", "other"]
"""How a request ended: answered, 429/503, timed out, or anything else (not a signal)."""
Phase = Literal["slow start", "steady", "probe"]


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """What vLLM's ``/metrics`` gauges say now (summed over the models it serves)."""

    running: float
    waiting: float
    kv_usage: float | None = None
    """0-1, ``vllm:gpu_cache_usage_perc`` or ``vllm:kv_cache_usage_perc``."""


def queue_target(running: float) -> int:
    """The waiting queue to keep on a vLLM server: 5 % of its running batch, at least 1.

    Positive, so a finishing sequence's place in the batch is filled at the
    next step without waiting a round trip for our next request; small, so
    no request waits long.
    """
    return max(1, math.ceil(0.05 * running))


class AdaptiveLimit:
    """One replica's adaptive cap on requests in flight (see the module's docstring)."""

    def __init__(
        self,
        *,
        ceiling: int = 256,
        initial: int = INITIAL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        metrics_max_age_s: float = 5.0,
    ) -> None:
        if ceiling < 1:
            raise ValueError("the ceiling must be at least 1")
        self.ceiling = ceiling
        self._clock = clock
        self._limit = float(max(1, min(initial, ceiling)))
        self.in_flight = 0
        self.phase: Phase = "slow start"
        self.metrics: Literal["unknown", "on", "off"] = "unknown"
        """Whether /metrics feeds this limit: unknown until the first scrape."""
        self.metrics_max_age_s = metrics_max_age_s
        self._load: ServerLoad | None = None
        self._load_at = -math.inf
        self._started = clock()
        self._epoch_start = self._started
        self._epoch_samples: list[tuple[str, float]] = []
        self._epoch_peak = 0
        self._previous_peak = 0
        self._epoch_window = 1
        """Answers that end this round trip: what was in flight when it began."""
        self._epochs = 0
        self._floors: deque[dict[str, float]] = deque(maxlen=FLOOR_EPOCHS)
        self._recent: deque[float] = deque(maxlen=RECENT_SAMPLES)
        self._delivery = Delivery()
        self._fastest: dict[str, float] = {}
        self._unchecked = self._limit
        """Slow start's limit as growth alone would make it, before the delivery cap."""
        self._last_backoff = -math.inf
        self._saved_limit = self._limit
        self._last_epoch_s = 0.0
        self._trace = LimitTrace()
        self._note("start")

    # ----------------------------------------------------------------- reading

    @property
    def limit(self) -> int:
        """Requests this replica may have in flight now: within [1, ceiling]."""
        return max(1, min(self.ceiling, int(self._limit)))

    @property
    def round_trip_s(self) -> float | None:
        """How long the last round trip took; None before the first ended."""
        return self._last_epoch_s or None

    @property
    def trace(self) -> list[TraceEntry]:
        """The first :data:`TRACE_HEAD` changes and the last :data:`TRACE_TAIL` (bounded)."""
        return self._trace.entries

    @property
    def changes(self) -> int:
        """How many times the limit changed (the trace keeps a bounded part of them)."""
        return self._trace.changes

    def floor(self, unit: str) -> float | None:
        """The latency floor in ``unit`` ("tok": seconds per token, "s": seconds), if known.

        The lowest *lower quartile* of the recent round trips, not the lowest
        single answer: pages differ, and the fastest page of many is no typical
        page -- against it, an idle server would look queued. A quartile rather
        than the median because a round trip that began with more requests
        than the server holds (slow start's first one, say) still has its first
        quarter unqueued; a standing queue delays every answer, quartile included.
        """
        values = [f[unit] for f in self._floors if unit in f]
        return min(values) if values else None

    def snapshot(self) -> dict[str, Any]:
        """Plain figures for reports: the limit now, its phase, and the bounded trace."""
        return {
            "limit": self.limit,
            "ceiling": self.ceiling,
            "phase": self.phase,
            "metrics": self.metrics,
            "changes": self.changes,
            "trace": [e.to_dict(self._started) for e in self.trace],
        }

    # ----------------------------------------------------------------- feeding

    def sent(self) -> None:
        """A request left for the replica."""
        self.in_flight += 1
        self._epoch_peak = max(self._epoch_peak, self.in_flight)
        if not self._epoch_samples:
            self._epoch_window = max(self._epoch_window, self.in_flight)

    def done(
        self, latency_s: float, outcome: Outcome, completion_tokens: int | None = None
    ) -> None:
        """A request ended after ``latency_s``: a sample, a signal to back off, or neither."""
        self.in_flight = max(0, self.in_flight - 1)
        now = self._clock()
        sent_at = now - max(0.0, latency_s)
        if outcome == "overload":
            self._back_off(now, sent_at, OVERLOAD_BACKOFF, "429/503 from the server")
        elif outcome == "timeout":
            self._back_off(now, sent_at, TIMEOUT_BACKOFF, "request timed out")
        elif outcome == "ok":
            self._sample(now, sent_at, latency_s, completion_tokens)

    def server_load(self, load: ServerLoad) -> None:
        """A fresh /metrics scrape: cut the limit at once if the server's queue is too long."""
        now = self._clock()
        self.metrics = "on"
        self._load, self._load_at = load, now
        target = queue_target(load.running)
        excess = load.waiting - target
        if excess <= 0 or not self._may_back_off(now):
            return
        wanted = max(1.0, min(self._limit, self.in_flight - excess))
        if wanted >= self._limit:
            return
        self._set(wanted, f"server queue {load.waiting:g} > {target}", now)
        self.phase = "steady"
        self._last_backoff = now
        self._new_epoch(now)

    def metrics_unavailable(self) -> None:
        """The server has no vLLM /metrics (404, or not vLLM's): latency alone steers."""
        self.metrics = "off"
        self._load = None

    # ----------------------------------------------------------------- decisions

    def _fresh_load(self, now: float) -> ServerLoad | None:
        if self._load is None or now - self._load_at > self.metrics_max_age_s:
            return None
        return self._load

    def _may_back_off(self, now: float) -> bool:
        """One reaction per round trip: a round trip is the floor latency in seconds."""
        rtt = self._rtt()
        return now - self._last_backoff >= rtt

    def _rtt(self) -> float:
        seconds = self.floor("s")
        if seconds is not None:
            return seconds
        return self._last_epoch_s

    def _back_off(self, now: float, sent_at: float, factor: float, reason: str) -> None:
        if sent_at < self._last_backoff:
            return  # sent before the last reaction: that reaction already answered it
        self._set(max(1.0, self._limit * factor), reason, now)
        self.phase = "steady"
        self._last_backoff = now
        self._new_epoch(now)

    def _sample(self, now: float, sent_at: float, latency_s: float, tokens: int | None) -> None:
        if tokens is not None and tokens >= 0:
            unit, value = "tok", latency_s / (tokens + FIXED_TOKENS)
        else:
            unit, value = "s", latency_s
        self._epoch_samples.append((unit, value))
        if self.phase == "slow start":
            self._delivery.answer(now, latency_s)
        floor = self.floor(unit)
        if floor is not None:
            self._recent.append(value / floor)
        if self.phase == "slow start":
            # Before the first round trip's floor, the fastest answer so far stands in.
            fastest = min(value, self._fastest.get(unit, value))
            self._fastest[unit] = fastest
            self._slow_start_step(now, late=value > LATE * (floor or fastest))
        if len(self._epoch_samples) >= self._epoch_window:
            self._end_epoch(now)

    def _limited(self, share: float = 1.0) -> bool:
        """Whether the limit was in use: growing a limit nobody reaches proves nothing.

        In use means requests in flight reached ``share`` of the limit (less
        one) in this round trip or the last: answers come back in bursts, and
        for a moment after one the count is below the limit while the next
        requests are on their way (TCP's window validation, RFC 7661, asks
        for half the window in use, as slow start does here).
        """
        peak = max(self._epoch_peak, self._previous_peak)
        return peak >= share * self.limit - 1

    def _slow_start_step(self, now: float, late: bool = False) -> None:
        load = self._fresh_load(now)
        exit_at = LATENCY_SAFETY if load is not None else SLOW_START_EXIT
        recent = lower_quartile(list(self._recent)) if self._recent else 1.0
        if len(self._recent) >= 4 and recent > exit_at:
            # The queue began a round trip ago, and slow start has grown the limit since
            # (TCP's ssthresh = cwnd / 2 for the same reason) -- but not below what the
            # server was seen to deliver.
            target = max(self._limit / max(2.0, recent), self._delivery.per_round)
            self._end_slow_start(target, f"latency {recent:.2f}x floor", now)
            return
        if load is not None and (
            load.waiting > queue_target(load.running)
            or (load.kv_usage is not None and load.kv_usage >= KV_FULL)
        ):
            return
        if late:
            return  # a request that waited in a queue is no reason to send more
        if self._limited(0.5) and self._limit < self.ceiling:
            # With gauges that show no queue, an overshoot is seen within one scrape:
            # x3 per round trip. On latency alone it is seen a round trip late: x1.5.
            step = 2.0 if load is not None else 0.5
            self._unchecked += step
            wanted = self._unchecked
            if self._delivery.per_round and load is None:
                # Ack-clocked growth keeps the limit (1 + step) x a round trip's answers: once
                # those stop rising (the server is full), so does the limit.
                wanted = min(wanted, (1.0 + step) * self._delivery.per_round + 1.0)
            if wanted > self._limit:
                self._set(wanted, "slow start", now)

    def _end_slow_start(self, target: float, reason: str, now: float) -> None:
        self.phase = "steady"
        self._set(max(1.0, target), f"{reason}: slow start ends", now)
        self._last_backoff = now
        self._new_epoch(now)

    def _end_epoch(self, now: float) -> None:
        """A round trip is over (an answer sent after it began came back): the steady step."""
        ratio = self._epoch_ratio()
        self._epochs += 1
        if self.phase == "probe":
            self.phase = "steady"
            self._set(self._saved_limit, "floor re-measured", now)
        elif self.phase == "steady" and ratio is not None:
            self._steady_step(now, ratio)
        self._new_epoch(now)

    def _epoch_ratio(self) -> float | None:
        """This round trip's lower-quartile latency over the floor (in the unit most had)."""
        by_unit: dict[str, list[float]] = {}
        for unit, value in self._epoch_samples:
            by_unit.setdefault(unit, []).append(value)
        if not by_unit:
            return None
        typical = {unit: lower_quartile(values) for unit, values in by_unit.items()}
        self._floors.append(typical)
        unit = max(by_unit, key=lambda u: len(by_unit[u]))
        floor = self.floor(unit)
        return typical[unit] / floor if floor else None

    def _steady_step(self, now: float, ratio: float) -> None:
        load = self._fresh_load(now)
        limited = self._limited()
        if load is not None:
            target = queue_target(load.running)
            kv_full = load.kv_usage is not None and load.kv_usage >= KV_FULL
            if ratio > LATENCY_SAFETY:
                self._decrease(self._limit / ratio, f"latency {ratio:.2f}x floor", now)
            elif load.waiting > target:
                wanted = self.in_flight - (load.waiting - target)
                self._decrease(wanted, f"server queue {load.waiting:g} > {target}", now)
            elif load.waiting < target and limited and not kv_full:
                # No queue at all: room to grow by the allowance; a short one: up to the target.
                grow = max(1.0, ALLOWANCE * self._limit)
                step = grow if load.waiting == 0 else min(target - load.waiting, grow)
                self._set(self._limit + step, "server queue below target", now)
            return
        if self._epochs % PROBE_EVERY_EPOCHS == 0:
            self._saved_limit = self._limit
            self.phase = "probe"
            self._set(max(1.0, 0.75 * self._limit), "probe the latency floor", now)
            return
        gradient = min(1.0, TOLERANCE / ratio) if ratio > 0 else 1.0
        target_limit = self._limit * gradient + max(1.0, ALLOWANCE * self._limit)
        if target_limit < self._limit:
            self._decrease(target_limit, f"latency {ratio:.2f}x floor", now)
        elif limited:
            self._set(target_limit, "latency at floor", now)

    def _decrease(self, target: float, reason: str, now: float) -> None:
        target = max(1.0, target)
        if target >= self._limit:
            return
        self._set(self._limit + SMOOTHING * (target - self._limit), reason, now)

    def _new_epoch(self, now: float) -> None:
        self._last_epoch_s = now - self._epoch_start
        self._epoch_start = now
        self._epoch_samples = []
        self._delivery.round_ended()
        self._previous_peak = self._epoch_peak
        self._epoch_peak = self.in_flight
        self._epoch_window = max(1, self.in_flight)

    def _set(self, value: float, reason: str, now: float) -> None:
        before = self.limit
        self._limit = max(1.0, min(float(self.ceiling), value))
        if self.limit != before:
            self._note(reason, now)

    def _note(self, reason: str, now: float | None = None) -> None:
        t = self._started if now is None else now
        self._trace.note(TraceEntry(t, self.limit, self.in_flight, reason))
