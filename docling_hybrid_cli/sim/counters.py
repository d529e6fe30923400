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
from dataclasses import dataclass, field, replace

from docling_hybrid_cli.sim.config import MockStats, RequestRecord

__all__ = ["Counters", "Exchange"]


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

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events = itertools.count()
        """The event clock of ``RequestRecord.started``/``finished``: order without wall time."""
        self._tally = _Tally()
        self._metrics = _Metrics()

    # ----------------------------------------------------------------- the tally

    def connection_opened(self) -> None:
        with self._lock:
            self._tally.connections_opened += 1

    def chat_started(self) -> int:
        """A request reached a chat path (counted even if it is then rejected): its event number."""
        with self._lock:
            t = self._tally
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
                self._tally.in_flight -= 1

    def fault_injected(self, fault: str) -> None:
        with self._lock:
            self._tally.faults_injected[fault] += 1

    def snapshot(self) -> MockStats:
        """A consistent copy of the tally, safe to keep while the server goes on."""
        with self._lock:
            t = self._tally
            return MockStats(
                chat_requests=t.chat_requests,
                chat_ok=t.chat_ok,
                faults_injected=dict(t.faults_injected),
                connections_opened=t.connections_opened,
                max_in_flight=t.max_in_flight,
                requests=list(t.requests),
            )

    def reset_tally(self) -> None:
        """Zero the tally, keeping requests still in flight (they will finish and count down)."""
        with self._lock:
            in_flight = self._tally.in_flight
            self._tally = _Tally(in_flight=in_flight, max_in_flight=in_flight)

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
        """Add one normal answer's time, from the parsed request to the answer, to the e2e sum."""
        with self._lock:
            self._metrics.e2e_seconds += seconds
            self._metrics.e2e_count += 1

    # ----------------------------------------------------------------- Prometheus

    def prometheus_text(self, model: str) -> bytes:
        """The ``/metrics`` body: vLLM's metric names, help texts and label for these counters."""
        with self._lock:
            running = self._tally.in_flight
            m = self._metrics
            counters = (m.prompt_tokens, m.generation_tokens, dict(m.success_by_reason))
            e2e = (m.e2e_seconds, m.e2e_count)
        prompt, generation, success = counters
        label = f'model_name="{model}"'
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{label}}} {float(running)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{label}}} 0.0",
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
