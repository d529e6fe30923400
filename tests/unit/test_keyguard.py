"""Secrets never cross the network readable: keys, secret headers, URL credentials."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.client import ChatClient
from docling_hybrid_cli.errors import ConfigError
from docling_hybrid_cli.keyguard import is_secret_header, public_url, refuse_secrets_in_clear
from docling_hybrid_cli.redact import redact

KEY = "sk-test-PLANTED-0123456789"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("X-Api-Key", True),
        ("X-Auth-Token", True),
        ("x-client-secret", True),
        ("HTTP-Referer", False),
        ("X-Title", False),
        ("Content-Type", False),
    ],
)
def test_secret_headers(name: str, secret: bool) -> None:
    assert is_secret_header(name) is secret


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://127.3.4.5/v1",
        "http://localhost:8000/v1",
        "http://[::1]:8000/v1",
        "https://10.0.0.1/v1",
        "https://openrouter.ai/api/v1",
    ],
)
@pytest.mark.parametrize("secret", ["key", "header"])
def test_allowed_over_https_anywhere_and_http_to_loopback(url: str, secret: str) -> None:
    key = KEY if secret == "key" else None
    headers = {"X-Api-Key": KEY} if secret == "header" else {}
    refuse_secrets_in_clear(
        "b", url, api_key=key, headers=headers, allow_insecure_http=False, proxies={}
    )


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/v1", "http://openrouter.invalid/api/v1", "http://192.168.1.5:8000/v1"]
)
@pytest.mark.parametrize(
    ("key", "headers", "what"),
    [
        (KEY, {}, "API key"),
        (None, {"Authorization": f"Bearer {KEY}"}, "secret header Authorization"),
        (None, {"X-Api-Key": KEY}, "secret header X-Api-Key"),
    ],
)
def test_refused_over_plain_http_off_the_machine(
    url: str, key: str | None, headers: dict[str, str], what: str
) -> None:
    with pytest.raises(ConfigError, match=f"its {what} over plain HTTP") as info:
        refuse_secrets_in_clear(
            "b", url, api_key=key, headers=headers, allow_insecure_http=False, proxies={}
        )
    assert info.value.exit_code == 2
    assert info.value.hint is not None and "allow_insecure_http" in info.value.hint
    assert KEY not in str(info.value) + info.value.hint
    refuse_secrets_in_clear(
        "b", url, api_key=key, headers=headers, allow_insecure_http=True, proxies={}
    )


def test_nothing_secret_nothing_refused() -> None:
    refuse_secrets_in_clear(
        "b",
        "http://10.0.0.1/v1",
        api_key=None,
        headers={"X-Title": "docling", "X-Api-Key": ""},
        allow_insecure_http=False,
        proxies={},
    )


def test_credentials_in_the_url_are_a_secret() -> None:
    with pytest.raises(ConfigError, match="URL credentials"):
        refuse_secrets_in_clear(
            "b",
            "http://u:pw@10.0.0.1/v1",
            api_key=None,
            headers={},
            allow_insecure_http=False,
            proxies={},
        )


def test_loopback_through_a_proxy_is_not_loopback() -> None:
    """The proxy reads a plain-HTTP request, wherever it is headed."""
    proxies = {"http": "http://proxy.invalid:3128"}
    with pytest.raises(ConfigError, match="through a proxy"):
        refuse_secrets_in_clear(
            "b",
            "http://127.0.0.1:8000/v1",
            api_key=KEY,
            headers={},
            allow_insecure_http=False,
            proxies=proxies,
        )
    bypass = {**proxies, "no": "127.0.0.1"}
    refuse_secrets_in_clear(
        "b",
        "http://127.0.0.1:8000/v1",
        api_key=KEY,
        headers={},
        allow_insecure_http=False,
        proxies=bypass,
    )


def test_client_creation_runs_the_guard() -> None:
    with pytest.raises(ConfigError, match="plain HTTP"):
        ChatClient.create(
            backend="b",
            base_url="http://ocr.invalid/v1",
            timeout_s=1,
            connect_timeout_s=1,
            max_connections=1,
            headers={"X-Api-Key": KEY},
        )


def test_secret_header_values_and_url_passwords_are_redacted() -> None:
    client = ChatClient.create(
        backend="b",
        base_url="https://user:url-PASSWORD-42@ocr.invalid/v1",
        timeout_s=1,
        connect_timeout_s=1,
        max_connections=1,
        headers={"X-Api-Key": KEY, "X-Title": "visible-title"},
    )
    text = redact(f"echo {KEY} url-PASSWORD-42 visible-title")
    assert KEY not in text and "url-PASSWORD-42" not in text and "visible-title" in text
    del client


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@host.invalid:8443/v1?key=abc", "https://host.invalid:8443/v1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("not a url", "not a url"),
    ],
)
def test_public_url_drops_credentials_and_query(url: str, shown: str) -> None:
    assert public_url(url) == shown
