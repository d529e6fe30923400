"""The server holds concurrent requests at once, refuses connects while loading, stops cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from sim_support import CHAT, chat_body, jpeg_b64

from docling_hybrid_cli.sim import MockServer


def test_concurrent_requests_are_served_in_parallel(
    make_server: Callable[..., MockServer],
) -> None:
    """Sixteen concurrent requests are all in flight at once (asyncio, not one at a time)."""
    server = make_server(latency_s=0.5)
    body = chat_body(jpeg_b64(700, 900))

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            responses = await asyncio.gather(*(http.post(CHAT, json=body) for _ in range(16)))
        return [response.status_code for response in responses]

    assert asyncio.run(burst()) == [200] * 16
    stats = server.stats
    assert stats.max_in_flight == 16
    assert stats.chat_ok == 16
    server.reset_stats()
    assert server.stats == type(stats)()


def test_start_delay_refuses_connections_until_listening(
    make_server: Callable[..., MockServer],
) -> None:
    """While "loading", connects are refused (not 503), then /health answers 200."""
    server = make_server(start_delay_s=0.3)
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health")
    assert server.wait_listening(timeout=10)
    assert httpx.get(server.url + "/health").status_code == 200


def test_stop_closes_idle_keep_alive_connections(
    server: MockServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """stop() returns promptly with a client still connected, and logs nothing."""
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/health").status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            http.get("/health")
    assert "Traceback" not in capfd.readouterr().err


def test_misuse_is_a_value_error() -> None:
    """The URL before start, and a second start, are programming errors."""
    server = MockServer()
    with pytest.raises(ValueError, match="start the server first"):
        _ = server.url
    with server, pytest.raises(ValueError, match="only be started once"):
        server.start()
