"""The aiohttp transport under httpx's API: requests, responses and error mapping.

Failures must land in the right httpx class, because client.py maps those to
the tool's errors and the circuit breaker only counts refused connections.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from docling_hybrid_cli.client import ChatClient, translate_httpx_error
from docling_hybrid_cli.errors import (
    BackendConnectError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    lookup_by_mro,
)
from docling_hybrid_cli.keyguard import bypassed as no_proxy_bypasses
from docling_hybrid_cli.sim import MockConfig, MockServer
from docling_hybrid_cli.transport import AiohttpTransport, _map_exception, aiohttp_errors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_round_trip_keeps_status_headers_and_body() -> None:
    async def run(url: str) -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
            models = await http.get(f"{url}/v1/models")
            missing = await http.post(f"{url}/nope", content=b"{}")
            return models, missing

    with MockServer() as server:
        models, missing = asyncio.run(run(server.url))
    assert models.status_code == 200
    assert models.headers["content-type"] == "application/json"
    assert models.json()["data"][0]["id"] == "deepseek-ai/DeepSeek-OCR"
    assert models.reason_phrase == "OK"
    assert missing.status_code == 404


def test_connections_are_reused() -> None:
    async def run(url: str) -> None:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
            for _ in range(5):
                assert (await http.get(f"{url}/health")).status_code == 200

    with MockServer() as server:
        asyncio.run(run(server.url))
        assert server.stats.connections_opened == 1


def test_refused_connection_is_a_connect_error() -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
            await http.get(f"http://127.0.0.1:{free_port()}/health")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(run())


def test_dropped_connection_is_not_a_connect_error() -> None:
    """A reset mid-request means the server is alive: retried, but never opens the breaker."""

    async def run(url: str) -> None:
        client = ChatClient.create(
            backend="mock",
            base_url=f"{url}/v1",
            timeout_s=5,
            connect_timeout_s=1,
            max_connections=2,
        )
        try:
            await client.get_json("/models")  # warm the pool
            with pytest.raises(BackendUnavailable) as caught:
                await client.chat(b'{"model": "deepseek-ai/DeepSeek-OCR", "messages": []}')
            assert not isinstance(caught.value, BackendConnectError)
        finally:
            await client.aclose()

    with MockServer() as server:
        server.inject("reset")
        asyncio.run(run(server.url))


def test_read_timeout_is_a_timeout() -> None:
    async def run(url: str) -> None:
        transport = AiohttpTransport()
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(0.2)) as http:
            await http.post(
                f"{url}/v1/chat/completions",
                content=b'{"model": "deepseek-ai/DeepSeek-OCR", "messages": []}',
            )

    with MockServer() as server:
        server.inject("timeout")
        with pytest.raises(httpx.ReadTimeout):
            asyncio.run(run(server.url))


def _aiohttp_exception_classes() -> list[type[BaseException]]:
    """aiohttp's ClientError subtree, and the bare timeout its timers raise."""
    found: set[type[BaseException]] = {TimeoutError}
    pending: list[type[BaseException]] = [aiohttp.ClientError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("aiohttp") and cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__qualname__)


@pytest.mark.parametrize("cls", _aiohttp_exception_classes(), ids=lambda cls: cls.__qualname__)
def test_every_aiohttp_exception_maps_into_the_tree(cls: type[BaseException]) -> None:
    """aiohttp → httpx here, httpx → ours in client.py: nothing aiohttp raises escapes."""
    target = lookup_by_mro(aiohttp_errors(), cls)
    assert target is not None
    error = translate_httpx_error(target("boom"), backend="b", url="http://h/v1")
    assert isinstance(error, BackendError)


@pytest.mark.parametrize(
    ("cls", "httpx_class", "ours"),
    [
        # Only a server that cannot be reached may count for the circuit breaker ...
        (aiohttp.ClientConnectorError, httpx.ConnectError, BackendConnectError),
        (aiohttp.ClientConnectorDNSError, httpx.ConnectError, BackendConnectError),
        (aiohttp.ClientConnectorCertificateError, httpx.ConnectError, BackendConnectError),
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout, BackendConnectError),
        # ... a connection that dropped or stalled once open is a live server.
        (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError, BackendUnavailable),
        (aiohttp.ClientConnectionResetError, httpx.ReadError, BackendUnavailable),
        (aiohttp.ClientOSError, httpx.ReadError, BackendUnavailable),
        (aiohttp.ClientPayloadError, httpx.RemoteProtocolError, BackendUnavailable),
        (aiohttp.ServerFingerprintMismatch, httpx.ReadError, BackendUnavailable),
        (aiohttp.ClientProxyConnectionError, httpx.ProxyError, BackendUnavailable),
        (aiohttp.ClientHttpProxyError, httpx.ProxyError, BackendUnavailable),
        (aiohttp.ContentTypeError, httpx.RemoteProtocolError, BackendUnavailable),
        (aiohttp.InvalidUrlRedirectClientError, httpx.UnsupportedProtocol, BackendUnavailable),
        (aiohttp.NonHttpUrlClientError, httpx.TransportError, BackendUnavailable),
        (aiohttp.SocketTimeoutError, httpx.ReadTimeout, BackendTimeout),
        (aiohttp.ServerTimeoutError, httpx.PoolTimeout, BackendTimeout),
        (TimeoutError, httpx.PoolTimeout, BackendTimeout),
    ],
)
def test_aiohttp_exception_mapping(
    cls: type[BaseException], httpx_class: type[httpx.TransportError], ours: type[BackendError]
) -> None:
    target = lookup_by_mro(aiohttp_errors(), cls)
    assert target is httpx_class
    assert type(translate_httpx_error(target("m"), backend="b", url="http://h/v1")) is ours


def test_a_later_aiohttp_subclass_maps_like_its_parent() -> None:
    class HappyEyeballsError(aiohttp.ClientConnectorError):
        pass

    assert lookup_by_mro(aiohttp_errors(), HappyEyeballsError) is httpx.ConnectError


def test_mapped_exception_keeps_message_and_request() -> None:
    request = httpx.Request("POST", "http://h/v1/chat/completions")
    mapped = _map_exception(aiohttp.ClientPayloadError("bad payload"), request)
    assert type(mapped) is httpx.RemoteProtocolError
    assert str(mapped) == "bad payload"
    assert mapped.request is request
    # An empty message is replaced by the class name, so the user sees something.
    timeout = _map_exception(TimeoutError(), request)
    assert type(timeout) is httpx.PoolTimeout
    assert str(timeout) == "TimeoutError"
    # Anything that is not aiohttp's is not the transport's to translate.
    assert _map_exception(ValueError("x"), request) is None


def test_chat_client_uses_the_aiohttp_pool_by_default() -> None:
    client = ChatClient.create(
        backend="b",
        base_url="http://127.0.0.1:1/v1",
        timeout_s=5,
        connect_timeout_s=1,
        max_connections=4,
    )
    assert isinstance(client._http._transport, AiohttpTransport)
    with pytest.raises(ValueError):
        ChatClient.create(
            backend="b",
            base_url="http://x/v1",
            timeout_s=5,
            connect_timeout_s=1,
            max_connections=4,
            http_transport="curl",
        )
    asyncio.run(client.aclose())


# --------------------------------------------------------------------------- environment


class HeadCapture:
    """A one-shot HTTP server on 127.0.0.1 that records request heads and answers 200."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            self.heads.append(data.split(b"\r\n\r\n")[0].decode("latin-1"))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def capture() -> Iterator[HeadCapture]:
    server = HeadCapture()
    yield server
    server.close()


@pytest.fixture
def netrc_for_localhost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\nlogin someone\npassword hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
            return await http.get(url, headers=headers)

    return asyncio.run(run())


@pytest.mark.usefixtures("netrc_for_localhost")
def test_netrc_never_meets_an_api_key() -> None:
    """A netrc entry for the server's host must not break requests that carry a key."""
    with MockServer(MockConfig(api_key="k")) as server:
        assert get(f"{server.url}/v1/models", {"Authorization": "Bearer k"}).status_code == 200


@pytest.mark.usefixtures("netrc_for_localhost")
def test_netrc_credentials_are_not_sent(capture: HeadCapture) -> None:
    """Like httpx, the transport sends no credentials it was not given."""
    assert get(f"http://127.0.0.1:{capture.port}/health").status_code == 200
    assert "authorization" not in capture.heads[0].lower()


def test_proxy_from_the_environment(capture: HeadCapture, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY routes requests through the proxy, in absolute form."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{capture.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert get("http://ocr.invalid/v1/models").text == "ok"
    assert capture.heads[0].startswith("GET http://ocr.invalid/v1/models HTTP/1.1")


def test_no_proxy_bypasses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host in NO_PROXY is reached directly even when the proxy is dead."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    with MockServer() as server:
        assert get(f"{server.url}/health").status_code == 200


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypassed"),
    [
        ("api.example.com", "example.com", True),
        ("api.example.com", ".example.com", True),
        ("example.com", "example.com", True),
        ("badexample.com", "example.com", False),
        ("127.0.0.1", "localhost, 127.0.0.1", True),
        ("127.0.0.1", "http://127.0.0.1", True),
        ("anything", "*", True),
        ("host", "", False),
        ("HOST.Example.COM", "example.com", True),
    ],
)
def test_no_proxy_matching(host: str, no_proxy: str, bypassed: bool) -> None:
    assert no_proxy_bypasses(host, no_proxy) is bypassed
