"""The concurrency settings' one parser: ``"auto"`` or a whole number of requests in flight.

Shared by a backend's ``max_concurrency``, ``convert.concurrency`` and the
``-j`` flag, so each says the same thing about a bad value.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["MAX_CONCURRENCY", "Concurrency", "parse_concurrency"]

MAX_CONCURRENCY = 1024
"""The largest number of requests in flight any setting may ask for."""

Concurrency = int | Literal["auto"]
"""A concurrency setting's value."""


def parse_concurrency(value: Any, *, allow_auto: bool = True) -> int | Literal["auto"]:
    """A concurrency setting: ``"auto"`` or a whole number in [1, 1024]; else a ValueError
    whose text pydantic turns into the setting's one-line error.

    ``allow_auto=False`` for a local backend: nothing there to adapt to.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            if not allow_auto:
                raise ValueError('"auto" is for servers; a local backend needs a number')
            return "auto"
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_CONCURRENCY:
        return value
    raise ValueError(f'must be "auto" or a whole number from 1 to {MAX_CONCURRENCY}, not {value!r}')
