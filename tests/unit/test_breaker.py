"""CircuitBreaker: opens on refused connections only, skips, then probes after the cooldown."""

from __future__ import annotations

from docling_hybrid_cli.breaker import CircuitBreaker
from docling_hybrid_cli.errors import (
    BackendConnectError,
    BackendRateLimited,
    BackendRejected,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, cooldown_s: float = 30.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("primary", threshold=threshold, cooldown_s=cooldown_s, clock=clock), clock


REFUSED = BackendConnectError("refused")


def test_opens_after_threshold_refusals_in_a_row() -> None:
    b, _ = breaker(threshold=3)
    for _ in range(2):
        b.record(REFUSED)
        assert b.blocked() is None
    b.record(REFUSED)
    assert b.is_open
    blocked = b.blocked()
    assert blocked is not None and "skipped" in str(blocked)
    assert blocked.backend == "primary"


def test_an_answer_of_any_kind_resets_the_count() -> None:
    """A 5xx, a 4xx or a slow answer proves the server is up: only refusals count."""
    for alive in (None, BackendServerError("500"), BackendRejected("401"), BackendTimeout("slow")):
        b, _ = breaker(threshold=2)
        b.record(REFUSED)
        b.record(alive)
        b.record(REFUSED)
        assert not b.is_open


def test_half_open_probe_after_cooldown_then_close_on_success() -> None:
    b, clock = breaker(threshold=1, cooldown_s=10)
    b.record(REFUSED)
    assert b.blocked() is not None
    clock.now = 10.0
    assert b.blocked() is None  # one probe goes through
    assert b.blocked() is not None  # and only one
    b.record(None)
    assert not b.is_open
    assert b.blocked() is None


def test_failed_probe_reopens_for_another_cooldown() -> None:
    b, clock = breaker(threshold=3, cooldown_s=10)
    for _ in range(3):
        b.record(REFUSED)
    clock.now = 11.0
    assert b.blocked() is None
    b.record(REFUSED)  # the probe was refused too
    assert b.blocked() is not None
    clock.now = 20.0
    assert b.blocked() is not None  # cooldown counts from the failed probe
    clock.now = 21.0
    assert b.blocked() is None


def test_a_flaky_but_alive_server_never_opens_it() -> None:
    """A long run of 500s, 429s and dropped connections: every one proves the server is up."""
    b, _ = breaker(threshold=3)
    faults = [
        BackendServerError("500", status=500),
        BackendRateLimited("429", status=429),
        BackendUnavailable("connection dropped"),
        BackendTimeout("slow"),
    ]
    for _ in range(50):
        for fault in faults:
            b.record(fault)
    assert not b.is_open and b.blocked() is None
