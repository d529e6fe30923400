"""The PDF password of a ``convert`` run: from the flag, a variable, or a hidden prompt."""

from __future__ import annotations

import os
import sys

import typer

from ..errors import UsageError

__all__ = ["resolve_password"]


def resolve_password(password: str | None, env_var: str | None) -> str | None:
    """The one password of the run, from the flag, a variable, or a hidden prompt.

    ``--password -`` asks once, before any progress display starts; the same
    password is tried on every encrypted input of the run.
    """
    if password is not None and env_var is not None:
        raise UsageError("give --password or --password-env, not both")
    if env_var is not None:
        value = os.environ.get(env_var)
        if not value:
            raise UsageError(f"--password-env {env_var}: the variable is not set")
        password = value
    elif password == "-":
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("PDF password", hide_input=True, err=True)
        if not password:
            raise UsageError("--password -: no password given")
    if password:
        from ..redact import register_secret

        register_secret(password)
    return password
