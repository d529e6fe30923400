"""Where the CLI writes: data to stdout, messages and progress to stderr."""

from __future__ import annotations

import sys

from ..errors import ConfigFileExists, DoclingHybridError, PasswordRequired, lookup_by_mro
from ..redact import redact
from ..textclean import one_line

__all__ = ["FLAG_HINTS", "hint_for", "print_error", "stderr_is_tty"]

FLAG_HINTS: dict[type[BaseException], str] = {
    PasswordRequired: "pass --password",
    ConfigFileExists: "use --force to overwrite it, or `config set KEY VALUE` to edit it",
}
"""Error class → the hint naming the flag that fixes it, read along the error's MRO.

The flags are the CLI's, so their names live here rather than in the code
that raises: the library says what went wrong, the CLI says which flag helps.
"""


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def hint_for(exc: DoclingHybridError) -> str | None:
    """The error's own hint, else the flag hint for its class, else None."""
    return exc.hint or lookup_by_mro(FLAG_HINTS, type(exc))


def print_error(exc: DoclingHybridError, *, verbose: bool = False) -> None:
    """One line, ``error: <message>``; the hint on a second line; the cause with --verbose."""
    sys.stderr.write(redact(f"error: {one_line(str(exc))}") + "\n")
    hint = hint_for(exc)
    if hint:
        sys.stderr.write(redact(f"hint: {one_line(hint)}") + "\n")
    if verbose and exc.__cause__ is not None:
        cause = one_line(f"{type(exc.__cause__).__name__}: {exc.__cause__}")
        sys.stderr.write(redact(f"cause: {cause}") + "\n")
    sys.stderr.flush()
