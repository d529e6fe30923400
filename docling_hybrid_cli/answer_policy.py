"""Which answers are page text, and when a page is empty: the policy in one place.

Every chat answer ends with a ``finish_reason``. Five values say the text is
not the whole page (:data:`BAD_ENDINGS`); every other value -- ``stop``, a
missing field, TGI's ``eos_token``, an Anthropic-style ``end_turn`` -- is a
finished answer. vLLM's reasons are its ``FinishReason`` values
(https://github.com/vllm-project/vllm/blob/main/vllm/v1/engine/__init__.py);
``repetition`` is what its optional repetition detection ends a loop with.

A finished answer with no text is a failed attempt, never a page's content:
at temperature 0 the same request gives the same answer, so it is tried once
more (a server hiccup) and then the page moves on (:func:`next_move`). A page
is *empty* -- converted, with nothing to write -- only when no backend found
text on it (:func:`page_is_empty`); a blank render skips the backends
altogether (``blank.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .errors import (
    BackendError,
    BackendNotConfigured,
    BadModelOutput,
    EmptyAnswer,
    LoopedAnswer,
    NoTextFound,
    WithheldAnswer,
)

__all__ = [
    "BAD_ENDINGS",
    "EMPTY_ANSWER_RETRIES",
    "BadEnding",
    "Move",
    "answer_error",
    "empty_answer",
    "next_move",
    "page_is_empty",
]


@dataclass(frozen=True, slots=True)
class BadEnding:
    """What a bad ``finish_reason`` becomes: the error class and its message."""

    error: type[BadModelOutput]
    message: str


BAD_ENDINGS: dict[str, BadEnding] = {
    # A loop: the same request loops again; a loop ladder changes the request.
    "length": BadEnding(LoopedAnswer, "answer cut off at max_tokens (probable repetition loop)"),
    "repetition": BadEnding(LoopedAnswer, "answer cut off by the server's repetition detection"),
    # Deterministic for this model: the next backend may answer.
    "content_filter": BadEnding(WithheldAnswer, "answer withheld by the server's content filter"),
    # The server failed, not the page: retried like a 5xx.
    "abort": BadEnding(BadModelOutput, "the server aborted the answer"),
    "error": BadEnding(BadModelOutput, "generation failed mid-answer"),
}
"""``finish_reason`` values that make an answer a failed attempt; any other is finished."""

EMPTY_ANSWER_RETRIES = 1
"""Retries of the same request after an empty finished answer (greedy decoding repeats it)."""

Move = Literal["retry", "next step", "next backend"]
"""What a backend does after a failed attempt that its retry loop did not absorb."""


def answer_error(backend: str, finish_reason: str | None, content: str) -> BadModelOutput | None:
    """The error an answer is, or None when it is finished page text.

    A bad ending wins over the content: a cut-off answer is rejected even
    when it holds text, since that text is a loop or a fragment.
    """
    ending = BAD_ENDINGS.get(finish_reason) if isinstance(finish_reason, str) else None
    if ending is not None:
        return ending.error(
            f"{backend}: {ending.message}", backend=backend, finish_reason=finish_reason
        )
    if not content.strip():
        return empty_answer(backend, finish_reason)
    return None


def empty_answer(
    backend: str, finish_reason: str | None = None, detail: str = "empty answer"
) -> EmptyAnswer:
    """A finished answer without text (``detail`` says what was left after cleaning)."""
    return EmptyAnswer(f"{backend}: {detail}", backend=backend, finish_reason=finish_reason)


def next_move(exc: BackendError, *, empty_retries_left: int, steps_left: int) -> Move:
    """After a failed attempt: the same request again, the next ladder step, or the next backend.

    Transient failures never get here (the retry loop spends its budget on
    them first); what is left is decided by the kind of answer.
    """
    if isinstance(exc, EmptyAnswer) and empty_retries_left > 0:
        return "retry"
    if isinstance(exc, LoopedAnswer) and steps_left > 0:
        return "next step"
    return "next backend"


_FOUND_NOTHING = (EmptyAnswer, NoTextFound)
_SAYS_NOTHING = (BackendNotConfigured,)


def page_is_empty(failures: Sequence[BackendError]) -> bool:
    """True when every backend failed because there was no text to find.

    At least one model must have answered empty; every other failure must be
    "found nothing" (no text layer, no characters, another empty answer) or a
    backend that could not work in this run at all (no key, no program). A
    loop, a refusal or an unreachable server may hide text, so any of those
    leaves the page failed, to be tried again on the next run.
    """
    return any(isinstance(f, EmptyAnswer) for f in failures) and all(
        isinstance(f, _FOUND_NOTHING + _SAYS_NOTHING) for f in failures
    )
