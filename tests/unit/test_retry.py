"""RetryPolicy: a deadline per page and backend, backoff with jitter, Retry-After, the fixed
budgets for timeouts and unusable answers, optional caps, and what is never retried."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from docling_hybrid_cli.errors import (
    BackendConnectError,
    BackendError,
    BackendRateLimited,
    BackendRejected,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
    BadModelOutput,
    EmptyAnswer,
    LoopedAnswer,
    WithheldAnswer,
)
from docling_hybrid_cli.retry import RetryPolicy
from docling_hybrid_cli.settings import RetrySettings


class FakeClock:
    """Time that passes only when the policy sleeps or a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(**fields: float | None) -> tuple[RetryPolicy, list[float]]:
    retry, slept, _ = clocked_policy(**fields)
    return retry, slept


def clocked_policy(**fields: float | None) -> tuple[RetryPolicy, list[float], FakeClock]:
    slept: list[float] = []
    clock = FakeClock()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    retry = RetryPolicy(sleep=sleep, rng=random.Random(7), clock=clock, **fields)  # type: ignore[arg-type]
    return retry, slept, clock


def script(*outcomes: BackendError | str) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """An attempt function that raises or returns the outcomes in order."""
    calls = [0]

    async def attempt() -> str:
        outcome = outcomes[calls[0]]
        calls[0] += 1
        if isinstance(outcome, BackendError):
            raise outcome
        return outcome

    return attempt, calls


def run(retry: RetryPolicy, attempt: Callable[[], Awaitable[str]]) -> tuple[str, int]:
    return asyncio.run(retry.run(attempt))


@pytest.mark.parametrize(
    "error",
    [
        BackendServerError("500", status=500),
        BackendServerError("408", status=408),
        BackendConnectError("refused"),
        BackendUnavailable("reset"),
        BackendRateLimited("429", status=429),
        BadModelOutput("empty"),
        BadModelOutput("200 with error", status=200),
    ],
    ids=lambda e: str(e),
)
def test_transient_errors_are_retried(error: BackendError) -> None:
    retry, slept = policy()
    attempt, _calls = script(error, error, "ok")
    assert run(retry, attempt) == ("ok", 3)
    assert len(slept) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_rejections_are_never_retried(status: int) -> None:
    retry, slept = policy()
    attempt, calls = script(BackendRejected(f"HTTP {status}", status=status), "ok")
    with pytest.raises(BackendRejected) as caught:
        run(retry, attempt)
    assert calls == [1] and slept == []
    assert caught.value.attempts == 1


@pytest.mark.parametrize(
    "answer",
    [
        LoopedAnswer("cut", finish_reason="length"),
        LoopedAnswer("cut", finish_reason="repetition"),
        EmptyAnswer("empty", finish_reason="stop"),
        WithheldAnswer("filtered", finish_reason="content_filter"),
    ],
    ids=lambda exc: type(exc).__name__ + "-" + str(exc.finish_reason),
)
def test_deterministic_answers_are_left_to_the_backend(answer: BadModelOutput) -> None:
    """The same request would get the same answer: the backend decides what to change."""
    retry, _ = policy()
    attempt, calls = script(answer, "ok")
    with pytest.raises(BadModelOutput):
        run(retry, attempt)
    assert calls == [1]


def test_budgets_are_separate() -> None:
    """429s do not use up the transient budget, and the reverse."""
    retry, _ = policy(max_attempts=3, rate_limit_attempts=4)
    limited = BackendRateLimited("429", status=429)
    server = BackendServerError("503", status=503)
    attempt, _calls = script(limited, server, limited, server, limited, "ok")
    assert run(retry, attempt) == ("ok", 6)


def test_transient_budget_exhausted_raises_the_last_error_with_attempts() -> None:
    retry, _ = policy(max_attempts=3)
    error = BackendServerError("502", status=502)
    attempt, calls = script(error, error, error, "ok")
    with pytest.raises(BackendServerError) as caught:
        run(retry, attempt)
    assert calls == [3]
    assert caught.value.attempts == 3


def test_rate_limit_budget_exhausted() -> None:
    retry, _ = policy(rate_limit_attempts=2)
    limited = BackendRateLimited("429", status=429)
    attempt, calls = script(limited, limited, "ok")
    with pytest.raises(BackendRateLimited):
        run(retry, attempt)
    assert calls == [2]


def test_retry_after_is_honoured() -> None:
    retry, slept = policy()
    attempt, _ = script(BackendRateLimited("429", retry_after=2.5), "ok")
    run(retry, attempt)
    assert slept == [2.5]


def test_retry_after_beyond_the_cap_moves_on_instead_of_sleeping() -> None:
    """A server asking for an hour's wait sends the page to the next backend now."""
    retry, slept = policy(backoff_max_s=30.0)
    attempt, calls = script(BackendRateLimited("429", retry_after=3600), "ok")
    with pytest.raises(BackendRateLimited):
        run(retry, attempt)
    assert slept == [] and calls == [1]


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    retry, _ = policy(backoff_initial_s=1.0, backoff_max_s=8.0)
    for failures, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [retry.delay(failures, None) for _ in range(200)]
        assert min(delays) >= base * 0.5
        assert max(delays) <= min(base * 1.5, 8.0)  # jitter never breaks the cap
        assert len(set(delays)) > 1  # jittered, so parallel pages do not retry in lockstep


def test_small_cap_still_retries_through_the_whole_budget() -> None:
    """Jitter above a small cap must not read as a server asking to wait too long."""
    retry, slept = policy(max_attempts=8, backoff_initial_s=0.01, backoff_max_s=0.05)
    error = BackendServerError("502", status=502)
    attempt, _calls = script(*[error] * 7, "ok")
    assert run(retry, attempt) == ("ok", 8)
    assert max(slept) <= 0.05


def test_should_stop_cuts_the_loop_and_the_page_keeps_its_own_error() -> None:
    """The circuit breaker hook: once it says stop, no further attempt is made; the page
    records what its own attempt met, not the breaker's note meant for pages not yet sent."""
    retry, slept = policy()
    attempt, calls = script(BackendConnectError("refused"), "ok")
    stop = BackendUnavailable("breaker open")

    async def go() -> tuple[str, int]:
        return await retry.run(attempt, should_stop=lambda: stop)

    with pytest.raises(BackendConnectError, match="refused") as caught:
        asyncio.run(go())
    assert calls == [1] and slept == []
    assert caught.value.attempts == 1


def test_on_outcome_sees_every_attempt() -> None:
    retry, _ = policy()
    seen: list[str] = []
    attempt, _ = script(BackendServerError("500"), "ok")

    async def go() -> tuple[str, int]:
        return await retry.run(
            attempt, on_outcome=lambda e: seen.append(type(e).__name__ if e else "ok")
        )

    asyncio.run(go())
    assert seen == ["BackendServerError", "ok"]


def test_from_settings() -> None:
    settings = RetrySettings(
        deadline_s=42, max_attempts=5, rate_limit_attempts=9, backoff_initial_s=0.1, backoff_max_s=2
    )
    retry = RetryPolicy.from_settings(settings)
    assert retry.deadline_s == 42.0
    assert (retry.max_attempts, retry.rate_limit_attempts) == (5, 9)
    assert (retry.backoff_initial_s, retry.backoff_max_s) == (0.1, 2.0)


def test_default_settings_bound_by_the_deadline_alone() -> None:
    retry = RetryPolicy.from_settings(RetrySettings())
    assert (retry.max_attempts, retry.rate_limit_attempts) == (None, None)
    assert 120 <= retry.deadline_s <= 600  # "a few minutes"


@pytest.mark.parametrize(
    "error",
    [BackendServerError("500", status=500), BackendUnavailable("reset"), BackendRateLimited("429")],
    ids=str,
)
def test_transient_faults_are_retried_until_the_deadline(error: BackendError) -> None:
    """No attempt count: a persistent fault is retried while a new attempt can start in time."""
    retry, slept, clock = clocked_policy(deadline_s=60.0, backoff_initial_s=1.0, backoff_max_s=8.0)
    attempt, calls = script(*[error] * 1000)
    with pytest.raises(type(error)) as caught:
        run(retry, attempt)
    assert calls[0] == len(slept) + 1 > 3  # far more than the old fixed three attempts
    assert sum(slept) <= 60.0  # no attempt started after the deadline...
    assert sum(slept) > 60.0 - 8.0  # ...and it stopped only when one more wait would pass it
    assert caught.value.attempts == calls[0]
    assert clock.now - 1000.0 == pytest.approx(sum(slept))


def test_a_long_run_of_bad_luck_within_the_deadline_still_converts() -> None:
    """Twelve failures in a row (one page in 4e8 at a 20 % fault rate) do not lose the page."""
    retry, _ = policy(deadline_s=300.0)
    attempt, _ = script(*[BackendServerError("500", status=500)] * 12, "ok")
    assert run(retry, attempt) == ("ok", 13)


def test_the_deadline_gates_new_attempts_not_the_one_in_flight() -> None:
    """An attempt that outlasts the deadline still returns its answer; none follows a failure."""
    retry, _, clock = clocked_policy(deadline_s=10.0)

    async def slow_answer() -> str:
        clock.now += 25.0  # a request running to its own (longer) timeout
        return "late but fine"

    assert asyncio.run(retry.run(slow_answer)) == ("late but fine", 1)

    calls = [0]

    async def slow_failure() -> str:
        calls[0] += 1
        clock.now += 25.0
        raise BackendServerError("500 after a long wait", status=500)

    with pytest.raises(BackendServerError):
        asyncio.run(retry.run(slow_failure))
    assert calls == [1]


def test_a_wait_that_would_end_past_the_deadline_moves_on_at_once() -> None:
    retry, slept = policy(deadline_s=10.0, backoff_max_s=30.0)
    attempt, calls = script(BackendRateLimited("429", retry_after=12.0), "ok")
    with pytest.raises(BackendRateLimited):
        run(retry, attempt)
    assert slept == [] and calls == [1]


def test_sleeping_counts_against_the_deadline_even_when_the_clock_stands_still() -> None:
    """With a sleep that takes no time (tests, a fake loop) the loop still ends."""

    async def no_sleep(_: float) -> None:
        return None

    retry = RetryPolicy(sleep=no_sleep, deadline_s=5.0, backoff_initial_s=1.0, backoff_max_s=1.0)
    attempt, calls = script(*[BackendServerError("503", status=503)] * 100)
    with pytest.raises(BackendServerError):
        run(retry, attempt)
    assert 5 <= calls[0] <= 11  # waits of 0.5-1 s within 5 s


def test_a_timeout_is_retried_once_then_moves_on() -> None:
    """A second timeout hands the page to the next backend instead of a third identical wait."""
    retry, slept, clock = clocked_policy(deadline_s=300.0)
    calls = [0]

    async def times_out() -> str:
        calls[0] += 1
        clock.now += 600.0  # each attempt runs to timeout_s, far past the deadline
        raise BackendTimeout("no answer in time")

    with pytest.raises(BackendTimeout) as caught:
        asyncio.run(retry.run(times_out))
    assert calls == [2] and len(slept) == 1  # the retry came, although the deadline had passed
    assert caught.value.attempts == 2


def test_a_timeout_then_recovery() -> None:
    retry, _ = policy()
    attempt, _ = script(BackendTimeout("slow"), "ok")
    assert run(retry, attempt) == ("ok", 2)


def test_timeouts_mixed_with_other_faults_still_get_two_at_most() -> None:
    retry, _ = policy()
    timeout, fault = BackendTimeout("slow"), BackendServerError("500", status=500)
    attempt, calls = script(timeout, fault, fault, timeout, "ok")
    with pytest.raises(BackendTimeout):
        run(retry, attempt)
    assert calls == [4]


def test_unusable_answers_have_a_fixed_budget_not_the_deadline() -> None:
    """The same request mostly gives the same unusable answer: three tries, then move on."""
    retry, _ = policy(deadline_s=3600.0)
    attempt, calls = script(*[BadModelOutput("empty answer")] * 10)
    with pytest.raises(BadModelOutput):
        run(retry, attempt)
    assert calls == [3]


def test_max_attempts_still_caps_when_a_config_file_sets_it() -> None:
    """Config files written for the old fixed budget keep working, and keep their cap."""
    retry = RetryPolicy.from_settings(RetrySettings(max_attempts=3))
    retry.sleep = policy()[0].sleep
    attempt, calls = script(*[BackendServerError("502", status=502)] * 10)
    with pytest.raises(BackendServerError):
        run(retry, attempt)
    assert calls == [3]


def test_a_short_retry_after_does_not_cut_our_own_backoff() -> None:
    """Retry-After: 0 on every answer would otherwise mean asking again at full speed."""
    retry, slept = policy(backoff_initial_s=1.0, backoff_max_s=8.0)
    attempt, _ = script(*[BackendRateLimited("429", retry_after=0.0)] * 3, "ok")
    run(retry, attempt)
    assert all(wait >= 0.5 for wait in slept)
    assert slept[2] >= 2.0  # still doubling


def test_backoff_never_overflows_after_many_failures() -> None:
    retry, _ = policy(backoff_initial_s=1.0, backoff_max_s=8.0)
    assert retry.delay(5000, None) <= 8.0
