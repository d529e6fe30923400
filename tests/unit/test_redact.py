"""Secret redaction: registered keys never survive into text the tool writes."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.errors import BackendRejected
from docling_hybrid_cli.output import failed_page_placeholder, page_record
from docling_hybrid_cli.pages import AttemptError, PageResult
from docling_hybrid_cli.redact import REDACTED, forget_secrets, redact, register_secret

KEY = "sk-or-v1-PLANTED-0123456789abcdef"


def test_forget_secrets_empties_the_registry() -> None:
    """The suite's autouse fixture relies on this between tests."""
    register_secret(KEY)
    forget_secrets()
    assert redact(KEY) == KEY


def test_nothing_registered_changes_nothing() -> None:
    """Without secrets, text passes through untouched."""
    assert redact(f"Bearer {KEY}") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "template",
    [
        "{k}",
        "Incorrect API key provided: {k}.",
        "Authorization: Bearer {k}\nmore",
        "{k}{k} twice, and again: {k}",
        '{{"error": {{"message": "bad key {k}"}}}}',
    ],
)
def test_registered_key_is_replaced_everywhere(template: str) -> None:
    """Every occurrence of a registered key is replaced, whatever surrounds it."""
    register_secret(KEY)
    out = redact(template.format(k=KEY))
    assert KEY not in out
    assert out.count(REDACTED) == template.count("{k}")


@pytest.mark.parametrize("value", [None, "", "abc", "12345"])
def test_short_or_empty_values_are_ignored(value: str | None) -> None:
    """Values under 6 characters are not secrets worth mangling ordinary text for."""
    register_secret(value)
    assert redact("abc 12345 text") == "abc 12345 text"


def test_six_characters_is_enough() -> None:
    """The minimum length is inclusive."""
    register_secret("s3cr3t")
    assert redact("key=s3cr3t") == f"key={REDACTED}"


def test_longer_secret_wins_over_its_prefix() -> None:
    """When one secret contains another, no tail of the longer one is left behind."""
    register_secret("sk-short")
    register_secret("sk-short-and-longer")
    out = redact("a sk-short-and-longer b sk-short c")
    assert out == f"a {REDACTED} b {REDACTED} c"


def test_several_secrets() -> None:
    """All registered secrets are removed, not just the first."""
    register_secret(KEY)
    register_secret("other-secret-value")
    assert redact(f"{KEY} / other-secret-value") == f"{REDACTED} / {REDACTED}"


def test_registering_twice_is_harmless() -> None:
    """Registering the same key again does not double-process or break anything."""
    register_secret(KEY)
    register_secret(KEY)
    assert redact(KEY) == REDACTED


def test_redaction_is_case_sensitive_and_exact() -> None:
    """Only the exact key is replaced; similar text stays readable."""
    register_secret(KEY)
    assert redact(KEY.upper()) == KEY.upper()
    assert redact(KEY[:-1]) == KEY[:-1]


def test_failed_page_placeholder_is_redacted() -> None:
    """A server error echoing the key does not reach the Markdown placeholder."""
    register_secret(KEY)
    result = PageResult(
        page=3,
        errors=[AttemptError("nemotron-openrouter", f"HTTP 401: bad key {KEY}", "BackendRejected")],
    )
    placeholder = failed_page_placeholder(result)
    assert KEY not in placeholder
    assert placeholder.startswith("<!-- page 3 failed:") and REDACTED in placeholder


def test_report_record_is_redacted() -> None:
    """A page's report entry carries the error with the key removed."""
    register_secret(KEY)
    error = BackendRejected(f"HTTP 401: Incorrect API key provided: {KEY}", status=401)
    result = PageResult(page=1, errors=[AttemptError("x", str(error), "BackendRejected", 401)])
    record = page_record(result)
    assert KEY not in repr(record)
    assert record["errors"][0]["status"] == 401
