"""RetryPolicy: backoff with jitter, Retry-After, two budgets, and what is never retried."""

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


def policy(**fields: float) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retry = RetryPolicy(sleep=sleep, rng=random.Random(7), **fields)  # type: ignore[arg-type]
    return retry, slept


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
        BackendTimeout("read timeout"),
        BackendUnavailable("reset"),
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


def test_should_stop_cuts_the_loop_with_its_error() -> None:
    """The circuit breaker hook: once it says stop, no further attempt is made."""
    retry, slept = policy()
    attempt, calls = script(BackendConnectError("refused"), "ok")
    stop = BackendUnavailable("breaker open")

    async def go() -> tuple[str, int]:
        return await retry.run(attempt, should_stop=lambda: stop)

    with pytest.raises(BackendUnavailable, match="breaker open") as caught:
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
        max_attempts=5, rate_limit_attempts=9, backoff_initial_s=0.1, backoff_max_s=2
    )
    retry = RetryPolicy.from_settings(settings)
    assert (retry.max_attempts, retry.rate_limit_attempts) == (5, 9)
    assert (retry.backoff_initial_s, retry.backoff_max_s) == (0.1, 2.0)
