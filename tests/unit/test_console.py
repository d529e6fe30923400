"""The CLI's one error printer: message, hint, cause, and the flag hints it adds itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdfgen import make_encrypted_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.cli.console import FLAG_HINTS, hint_for, print_error
from docling_hybrid_cli.errors import (
    EXIT_USAGE,
    ConfigError,
    ConfigFileExists,
    DoclingHybridError,
    EncryptedPdf,
    PasswordRequired,
)


def test_a_flag_hint_is_added_when_the_error_has_none(capsys: pytest.CaptureFixture[str]) -> None:
    print_error(PasswordRequired("a.pdf needs a password"))
    assert capsys.readouterr().err == "error: a.pdf needs a password\nhint: pass --password\n"


def test_the_errors_own_hint_wins() -> None:
    assert hint_for(PasswordRequired("x", hint="ask the author")) == "ask the author"


def test_subclasses_inherit_the_flag_hint() -> None:
    class ProtectedAttachment(PasswordRequired):
        pass

    assert hint_for(ProtectedAttachment("x")) == "pass --password"


@pytest.mark.parametrize(
    "exc",
    [
        # An encryption pdfium cannot open is not fixed by a password.
        EncryptedPdf("a.pdf uses an unsupported encryption scheme"),
        ConfigError("bad key"),
        DoclingHybridError("boom"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_no_hint_line_without_a_hint(
    exc: DoclingHybridError, capsys: pytest.CaptureFixture[str]
) -> None:
    print_error(exc)
    assert capsys.readouterr().err == f"error: {exc}\n"


def test_flag_hints_name_flags() -> None:
    """The table is for hints that name a command-line flag; anything else belongs to the error."""
    assert all("--" in hint for hint in FLAG_HINTS.values())


def test_cause_only_with_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise ConfigError("bad value") from ValueError("not a number")
    except ConfigError as exc:
        print_error(exc)
        assert capsys.readouterr().err == "error: bad value\n"
        print_error(exc, verbose=True)
        assert capsys.readouterr().err == ("error: bad value\ncause: ValueError: not a number\n")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


@pytest.mark.parametrize("password", [None, "wrong"], ids=["no-password", "wrong-password"])
def test_encrypted_pdf_hints_at_password(tmp_path: Path, password: str | None) -> None:
    """What the user sees for an encrypted PDF: the error, then the flag that opens it."""
    pdf = make_encrypted_pdf(tmp_path / "secret.pdf", "right")
    args = ["convert", str(pdf), "-o", str(tmp_path / "out.md")]
    if password:
        args += ["--password", password]
    code, err = _run(*args)
    message = f"wrong password for {pdf}" if password else f"{pdf} needs a password"
    assert (code, err) == (EXIT_USAGE, f"error: {message}\nhint: pass --password\n")


def test_config_init_over_a_file_hints_at_force(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# mine\n", encoding="utf-8")
    code, err = _run("--config", str(config), "config", "init")
    assert (code, err) == (
        EXIT_USAGE,
        f"error: config file already exists: {config}\n"
        "hint: use --force to overwrite it, or `config set KEY VALUE` to edit it\n",
    )
    assert isinstance(ConfigFileExists("x"), ConfigError)
