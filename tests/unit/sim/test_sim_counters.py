"""The Prometheus counters grow with each answer, like vLLM's."""

from __future__ import annotations

import httpx
from sim_support import CHAT, MODEL, chat_body, jpeg_b64

from docling_hybrid_cli.sim import MockServer
from docling_hybrid_cli.sim.counters import Counters, Exchange


def _metric(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name)]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_tokens_and_successes(server: MockServer, client: httpx.Client) -> None:
    """Prometheus counters grow with each answer; running is 0 when idle."""
    label = f'{{model_name="{MODEL}"}}'
    success = f'vllm:request_success_total{{finished_reason="stop",model_name="{MODEL}"}}'
    before = client.get("/metrics").text
    assert _metric(before, success) == 0
    answers = [client.post(CHAT, json=chat_body(jpeg_b64(700, 900))).json() for _ in range(2)]
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    prompt = sum(answer["usage"]["prompt_tokens"] for answer in answers)
    generated = sum(answer["usage"]["completion_tokens"] for answer in answers)
    assert _metric(after.text, "vllm:prompt_tokens_total" + label) == prompt
    assert _metric(after.text, "vllm:generation_tokens_total" + label) == generated
    assert _metric(after.text, success) == 2
    assert _metric(after.text, "vllm:num_requests_running" + label) == 0
    assert _metric(after.text, "vllm:num_requests_waiting" + label) == 0


def test_reset_keeps_requests_in_flight() -> None:
    """reset_tally zeroes the tally but a request still running counts down without going < 0."""
    counters = Counters()
    counters.connection_opened()
    counters.chat_started()
    counters.reset_tally()
    assert counters.snapshot().max_in_flight == 1
    counters.request_finished(Exchange(fault="empty").record(CHAT, 200), chat=True)
    stats = counters.snapshot()
    assert stats.connections_opened == 0
    assert [(r.path, r.status, r.fault) for r in stats.requests] == [(CHAT, 200, "empty")]
    counters.chat_started()
    assert counters.snapshot().max_in_flight == 1


def test_event_clock_orders_arrivals_and_answers() -> None:
    """``started``/``finished`` share one clock: a request that arrived while another was
    being answered has ``started`` below the other's ``finished``."""
    counters = Counters()
    first = Exchange(started=counters.chat_started())
    second = Exchange(started=counters.chat_started())
    counters.request_finished(second.record(CHAT, 200), chat=True)
    counters.request_finished(first.record(CHAT, 200), chat=True)
    counters.request_finished(Exchange().record("/health", 200), chat=False)
    late, early, health = counters.snapshot().requests
    assert (early.started, late.started) == (0, 1)
    assert (late.finished, early.finished) == (2, 3)
    assert health.started is None and health.finished == 4
