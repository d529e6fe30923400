"""Secrets stay secret: which headers are secrets, and where they may be sent.

A key crosses the network readable over plain HTTP. Plain HTTP to this
machine (a local vLLM) is fine; to anything else, or through a proxy (even
for a loopback URL: the proxy sees the request), the user must opt in with
``allow_insecure_http``. The check runs where every HTTP client is created
(:meth:`docling_hybrid_cli.client.ChatClient.create`), so ``convert``,
``check-server`` and ``benchmark`` all have it, before any connection.

A *secret header* is any header a server could authenticate with:
``Authorization``, ``Proxy-Authorization``, ``Cookie``, or a name containing
``key``, ``token``, ``secret`` or ``auth``. Their values are guarded like the
API key, redacted from every message and never echoed.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Mapping

import httpx

from .errors import ConfigError

__all__ = [
    "SECRET_HEADER_WORDS",
    "bypassed",
    "environment_proxies",
    "is_loopback",
    "is_secret_header",
    "proxy_for",
    "public_url",
    "refuse_secrets_in_clear",
]

SECRET_HEADER_WORDS = ("key", "token", "secret", "auth")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def is_secret_header(name: str) -> bool:
    """Whether a header's value must be treated like an API key."""
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or any(word in lowered for word in SECRET_HEADER_WORDS)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def environment_proxies() -> dict[str, str]:
    """``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY`` as the standard library reads them."""
    return urllib.request.getproxies_environment()


def bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` exempts ``host``: ``*``, or hosts and domain suffixes.

    Entries may carry a scheme (``http://127.0.0.1``), as httpx allows; a
    leading dot is optional (``.example.com`` and ``example.com`` both cover
    ``api.example.com``).
    """
    host = host.lower()
    for raw in no_proxy.split(","):
        entry = raw.strip().lower().split("://")[-1].lstrip(".")
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def proxy_for(url: httpx.URL, proxies: Mapping[str, str]) -> str | None:
    """The proxy a request for ``url`` goes through, as httpx would pick it, or None."""
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or bypassed(url.host, proxies.get("no", "")):
        return None
    return proxy


def public_url(url: str) -> str:
    """``url`` without credentials (``user:pass@``) or query string, fit for reports and logs."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "an invalid URL"
    if not parsed.scheme:
        return url.split("?", 1)[0].rsplit("@", 1)[-1]
    port = f":{parsed.port}" if parsed.port else ""
    path = parsed.path if parsed.path != "/" or url.split("?", 1)[0].endswith("/") else ""
    return f"{parsed.scheme}://{parsed.host}{port}{path}"


def refuse_secrets_in_clear(
    backend: str,
    base_url: str,
    *,
    api_key: str | None,
    headers: Mapping[str, str],
    allow_insecure_http: bool,
    proxies: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`ConfigError` before a secret would cross the network readable.

    A secret is the API key, a secret header's value, or credentials in the
    URL itself. Over ``http`` they are allowed only to a loopback host reached
    directly, or with ``allow_insecure_http``.
    """
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        return  # the request itself fails with a clear error; nothing is sent
    secrets = _secret_names(api_key, headers, url)
    if not secrets or url.scheme != "http" or allow_insecure_http:
        return
    proxy = proxy_for(url, environment_proxies() if proxies is None else proxies)
    if is_loopback(url.host) and proxy is None:
        return
    where = f"{url.host} through a proxy" if proxy is not None else url.host
    raise ConfigError(
        f"backend {backend!r} would send its {secrets} over plain HTTP to {where}",
        hint=f"use https, or set backends.{backend}.allow_insecure_http = true",
    )


def _secret_names(api_key: str | None, headers: Mapping[str, str], url: httpx.URL) -> str:
    found: list[str] = []
    if api_key:
        found.append("API key")
    secret_headers = sorted(n for n, v in headers.items() if v and is_secret_header(n))
    if secret_headers:
        found.append("secret header " + ", ".join(secret_headers))
    if url.userinfo:
        found.append("URL credentials")
    return " and ".join(found)
