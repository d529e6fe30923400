"""Where the CLI writes: data to stdout, messages and progress to stderr."""

from __future__ import annotations

import sys

from ..errors import DoclingHybridError
from ..redact import redact

__all__ = ["print_error", "stderr_is_tty"]


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def print_error(exc: DoclingHybridError, *, verbose: bool = False) -> None:
    """One line, ``error: <message>``; the hint on a second line; the cause with --verbose."""
    sys.stderr.write(redact(f"error: {exc}") + "\n")
    if exc.hint:
        sys.stderr.write(redact(f"hint: {exc.hint}") + "\n")
    if verbose and exc.__cause__ is not None:
        sys.stderr.write(redact(f"cause: {type(exc.__cause__).__name__}: {exc.__cause__}") + "\n")
    sys.stderr.flush()
