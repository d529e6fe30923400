"""An httpx transport that sends requests through aiohttp's connection pool.

Why: httpx's own pool (httpcore) churns connections and burns client CPU once
dozens of requests are in flight (encode/httpx#3215; measured for this
project in docs/PERFORMANCE.md), while aiohttp keeps exactly one connection
per request in flight. This transport keeps httpx's API -- ``httpx.Request``
in, ``httpx.Response`` out, httpx's exception types -- so :mod:`client` and
every test that injects its own transport are unchanged.

The same idea ships as the ``httpx-aiohttp`` package (the OpenAI SDK offers
it); this is a small owned version because that one maps a dropped
keep-alive connection (``ServerDisconnectedError``) to ``httpx.ConnectTimeout``,
which would make the circuit breaker treat a live server as a dead one.

Response bodies are streamed: the client reads them under a size cap (a
hostile server can send any amount) and always closes them, which releases
the pooled connection.

``trust_env`` means what it means in httpx: proxies from ``HTTP(S)_PROXY``,
``ALL_PROXY`` and ``NO_PROXY``, read once. aiohttp's own ``trust_env`` would
also read ``~/.netrc`` on every request (a thread hop each) and send its
credentials as Basic auth -- and raise ``ValueError`` when the request also
carries an API key, so a netrc entry for the server's host broke every page.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from .errors import lookup_by_mro
from .keyguard import environment_proxies, proxy_for

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport", "aiohttp_errors"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` over one lazily created ``aiohttp.ClientSession``.

    The session (and its connector) is created on the first request, inside
    the running event loop, as aiohttp requires; it lives until :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
        trust_env: bool = True,
    ) -> None:
        self._limits = limits or httpx.Limits()
        self._verify = verify
        self._proxies = environment_proxies() if trust_env else {}
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            ssl_option: ssl.SSLContext | bool
            if isinstance(self._verify, ssl.SSLContext):
                ssl_option = self._verify
            elif self._verify:
                ssl_option = httpx.create_ssl_context()  # certifi, like httpx itself
            else:
                ssl_option = False
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 5.0,
                ssl=ssl_option,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # proxies are resolved by _proxy_for; never netrc
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp

        session = self._get_session()
        timeout = request.extensions.get("timeout", {})
        body = request.content if request.method not in ("GET", "HEAD") else None
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "host"]
        try:
            response = await session.request(
                request.method,
                str(request.url),
                data=body or None,
                headers=headers,
                allow_redirects=False,
                compress=None,
                proxy=self._proxy_for(request.url),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except Exception as exc:
            mapped = _map_exception(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        # The body stays encoded (auto_decompress=False): the client inflates it
        # under its size cap, which aiohttp's decoder, inflating whole chunks, cannot.
        raw_headers = list(response.raw_headers)
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            response.status,
            headers=raw_headers,
            stream=_AiohttpBody(response, request),
            request=request,
            extensions=extensions,
        )

    def _proxy_for(self, url: httpx.URL) -> str | None:
        """The environment's proxy for ``url``, as httpx would pick it, or None."""
        return proxy_for(url, self._proxies)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


class _AiohttpBody(httpx.AsyncByteStream):
    """An aiohttp response body read chunk by chunk, so the caller can stop reading.

    The client caps how much of an answer it reads (a 300 MB body, a gzip
    bomb); reading it here whole would buffer it before anyone could refuse
    it. Chunks are raw (still content-encoded). Closing releases the connection.
    """

    CHUNK = 64 * 1024

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(self.CHUNK):
                yield chunk
        except Exception as exc:
            mapped = _map_exception(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        self._response.release()


@functools.cache
def aiohttp_errors() -> dict[type[BaseException], type[httpx.TransportError]]:
    """aiohttp exception class → the httpx exception it becomes, read along the MRO.

    Built on first use because aiohttp is imported lazily. A refused or
    unreachable server is a *connect* error (it feeds the circuit breaker); a
    connection that drops once established is a read or protocol error (the
    server is alive, so it is only retried).
    """
    import aiohttp

    return {
        # aiohttp's root: whatever else it raises, in this release or a later one.
        aiohttp.ClientError: httpx.TransportError,
        # Nothing answered: refused, unresolvable, TLS failed, or the connect timed out.
        aiohttp.ClientConnectorError: httpx.ConnectError,
        aiohttp.ConnectionTimeoutError: httpx.ConnectTimeout,
        aiohttp.ClientProxyConnectionError: httpx.ProxyError,
        aiohttp.ClientHttpProxyError: httpx.ProxyError,
        # Other timeouts and dropped connections: retried, never counted by the breaker.
        aiohttp.SocketTimeoutError: httpx.ReadTimeout,
        aiohttp.ServerTimeoutError: httpx.PoolTimeout,
        TimeoutError: httpx.PoolTimeout,  # bare, from aiohttp's timers (asyncio.TimeoutError)
        aiohttp.ClientConnectionError: httpx.ReadError,
        aiohttp.ServerDisconnectedError: httpx.RemoteProtocolError,
        aiohttp.ClientPayloadError: httpx.RemoteProtocolError,
        aiohttp.ClientResponseError: httpx.RemoteProtocolError,
        aiohttp.InvalidURL: httpx.UnsupportedProtocol,
    }


def _map_exception(exc: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """aiohttp's exceptions → httpx's, so :mod:`client` has one library to translate."""
    target = lookup_by_mro(aiohttp_errors(), type(exc))
    if target is None:
        return None
    return target(str(exc) or type(exc).__name__, request=request)
