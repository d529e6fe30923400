"""What the simulated server has done: the live counters behind ``stats`` and ``/metrics``.

Two sets of counters, because they answer different questions. The tally (requests, faults,
connections, in-flight) is what tests and the benchmark read, and ``reset_stats`` zeroes it
between phases. The Prometheus counters only grow, as vLLM's do, so a client that computes
rates from two scrapes sees what it would see against the real server.

The server's loop thread writes and any thread reads, so everything goes through one lock.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from docling_hybrid_cli.sim.config import MockStats, RequestRecord

__all__ = ["MAX_LATENCIES", "Counters", "Exchange"]

MAX_LATENCIES = 100_000
"""Answer latencies the stats keep: a long benchmark's worth, bounded."""


@dataclass(slots=True)
class Exchange:
    """What a handler learnt about one request, kept even when the handler drops the connection."""

    image_sha1: str | None = None
    width: int | None = None
    height: int | None = None
    fault: str | None = None
    started: int | None = None

    def record(self, path: str, status: int | None) -> RequestRecord:
        """The finished request as :class:`RequestRecord`; ``status`` None if none was sent."""
        return RequestRecord(
            path, status, self.image_sha1, self.width, self.height, self.fault, self.started
        )


@dataclass(slots=True)
class _Tally:
    chat_requests: int = 0
    chat_ok: int = 0
    faults_injected: collections.Counter[str] = field(default_factory=collections.Counter)
    connections_opened: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[RequestRecord] = field(default_factory=list)
    in_flight_seconds: dict[int, float] = field(default_factory=dict)
    changed_at: float | None = None
    max_waiting: int = 0
    latencies: list[float] = field(default_factory=list)

    def level_changes(self, now: float) -> None:
        """Charge the time since the last change to the in-flight level it was at."""
        if self.changed_at is not None:
            level = self.in_flight
            self.in_flight_seconds[level] = self.in_flight_seconds.get(level, 0.0) + (
                now - self.changed_at
            )
        self.changed_at = now


@dataclass(slots=True)
class _Metrics:
    prompt_tokens: int = 0
    generation_tokens: int = 0
    success_by_reason: collections.Counter[str] = field(default_factory=collections.Counter)
    chat_requests: int = 0
    e2e_seconds: float = 0.0
    e2e_count: int = 0


class Counters:
    """The tally and the Prometheus counters, each change made under one lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._events = itertools.count()
        """The event clock of ``RequestRecord.started``/``finished``: order without wall time."""
        self._tally = _Tally()
        self._metrics = _Metrics()
        self._running = 0
        self._waiting = 0

    # ----------------------------------------------------------------- the tally

    def connection_opened(self) -> None:
        with self._lock:
            self._tally.connections_opened += 1

    def chat_started(self) -> int:
        """A request reached a chat path (counted even if it is then rejected): its event number."""
        with self._lock:
            t = self._tally
            t.level_changes(self._clock())
            t.chat_requests += 1
            t.in_flight += 1
            t.max_in_flight = max(t.max_in_flight, t.in_flight)
            return next(self._events)

    def request_finished(self, record: RequestRecord, *, chat: bool) -> None:
        """Record a request; called before the reply is written, so a client that has its
        answer also sees it in the stats."""
        with self._lock:
            self._tally.requests.append(replace(record, finished=next(self._events)))
            if chat:
                self._tally.level_changes(self._clock())
                self._tally.in_flight -= 1

    def decode_waiting(self, delta: int) -> None:
        """A request joined (+1) or left (-1) the queue for a place in the decoding batch."""
        with self._lock:
            self._waiting += delta
            self._tally.max_waiting = max(self._tally.max_waiting, self._waiting)

    def decode_running(self, delta: int) -> None:
        """A request entered (+1) or left (-1) the decoding batch."""
        with self._lock:
            self._running += delta

    def fault_injected(self, fault: str) -> None:
        with self._lock:
            self._tally.faults_injected[fault] += 1

    def snapshot(self) -> MockStats:
        """A consistent copy of the tally, safe to keep while the server goes on."""
        with self._lock:
            t = self._tally
            seconds = dict(t.in_flight_seconds)
            if t.changed_at is not None:
                now = self._clock()
                seconds[t.in_flight] = seconds.get(t.in_flight, 0.0) + now - t.changed_at
            return MockStats(
                chat_requests=t.chat_requests,
                chat_ok=t.chat_ok,
                faults_injected=dict(t.faults_injected),
                connections_opened=t.connections_opened,
                max_in_flight=t.max_in_flight,
                requests=list(t.requests),
                in_flight_seconds={n: s for n, s in sorted(seconds.items()) if n > 0},
                max_waiting=t.max_waiting,
                latencies=list(t.latencies),
            )

    def reset_tally(self) -> None:
        """Zero the tally, keeping requests still in flight (they will finish and count down)."""
        with self._lock:
            in_flight = self._tally.in_flight
            self._tally = _Tally(in_flight=in_flight, max_in_flight=in_flight)
            self._tally.changed_at = self._clock()

    # ----------------------------------------------------------------- both

    def chat_admitted(self) -> None:
        """Count an authorized chat request against the simulated quota."""
        with self._lock:
            self._metrics.chat_requests += 1

    def chats_admitted(self) -> int:
        """Authorized chat requests since start: the "used" part of the simulated quota."""
        with self._lock:
            return self._metrics.chat_requests

    def answered(
        self, prompt_tokens: int, completion_tokens: int, finish_reason: str, *, page: bool
    ) -> None:
        """Count a completion sent; ``page`` marks a real transcription (``chat_ok``)."""
        with self._lock:
            m = self._metrics
            m.prompt_tokens += prompt_tokens
            m.generation_tokens += completion_tokens
            m.success_by_reason[finish_reason] += 1
            if page:
                self._tally.chat_ok += 1

    def page_served(self, seconds: float) -> None:
        """Add one normal answer's time, from the parsed request to the answer, to the e2e sum
        and to the latencies the stats keep (queueing for the batch included)."""
        with self._lock:
            self._metrics.e2e_seconds += seconds
            self._metrics.e2e_count += 1
            if len(self._tally.latencies) < MAX_LATENCIES:
                self._tally.latencies.append(seconds)

    # ----------------------------------------------------------------- Prometheus

    def prometheus_text(self, model: str, max_num_seqs: int | None = None) -> bytes:
        """The ``/metrics`` body: vLLM's metric names, help texts and label for these counters.

        Running and waiting are the decoding batch and its queue (with no
        ``max_num_seqs`` every request is running); KV-cache use is the batch's
        share of ``max_num_seqs`` places, as a full batch fills vLLM's cache.
        """
        with self._lock:
            running, waiting = self._running, self._waiting
            m = self._metrics
            counters = (m.prompt_tokens, m.generation_tokens, dict(m.success_by_reason))
            e2e = (m.e2e_seconds, m.e2e_count)
        prompt, generation, success = counters
        kv_usage = round(min(1.0, running / max_num_seqs), 4) if max_num_seqs else 0.0
        label = f'model_name="{model}"'
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{label}}} {float(running)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{label}}} {float(waiting)}",
            "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
            "# TYPE vllm:kv_cache_usage_perc gauge",
            f"vllm:kv_cache_usage_perc{{{label}}} {kv_usage}",
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens counter",
            f"vllm:prompt_tokens_total{{{label}}} {float(prompt)}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens counter",
            f"vllm:generation_tokens_total{{{label}}} {float(generation)}",
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success counter",
        ]
        for reason in ("stop", "length"):
            lines.append(
                f'vllm:request_success_total{{finished_reason="{reason}",{label}}} '
                f"{float(success.get(reason, 0))}"
            )
        # Like vLLM's histogram (sum and count only): time from the parsed request to the
        # answer, parsing included, so the benchmark's Little's-law ideal uses what the
        # server really spent rather than the configured latency.
        lines += [
            "# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.",
            "# TYPE vllm:e2e_request_latency_seconds histogram",
            f"vllm:e2e_request_latency_seconds_sum{{{label}}} {e2e[0]}",
            f"vllm:e2e_request_latency_seconds_count{{{label}}} {float(e2e[1])}",
        ]
        return ("\n".join(lines) + "\n").encode()
