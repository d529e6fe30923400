"""The aiohttp transport under httpx's API: requests, responses and error mapping.

Failures must land in the right httpx class, because client.py maps those to
the tool's errors and the circuit breaker only counts refused connections.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from docling_hybrid_cli.client import ChatClient
from docling_hybrid_cli.errors import BackendConnectError, BackendUnavailable
from docling_hybrid_cli.mockserver import MockServer
from docling_hybrid_cli.transport import AiohttpTransport


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
