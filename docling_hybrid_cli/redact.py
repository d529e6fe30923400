"""Keep API keys out of everything the tool writes.

Every key the tool loads is registered here, and every string that leaves
the process through an error message, a log line, a report or a Markdown
placeholder passes through :func:`redact`. A server that echoes the key back
in an error body (some do) therefore cannot make us print it.
"""

from __future__ import annotations

__all__ = ["REDACTED", "forget_secrets", "redact", "register_secret"]

REDACTED = "[redacted]"
_MIN_SECRET_LEN = 6
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret; short values are ignored to avoid mangling text."""
    if value and len(value) >= _MIN_SECRET_LEN:
        _secrets.add(value)


def forget_secrets() -> None:
    """Drop every registered secret.

    The registry lives as long as the process, like the keys it protects; a
    process that runs many commands (the test suite) resets it between them.
    """
    _secrets.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
