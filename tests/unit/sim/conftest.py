"""Simulated servers started per test and stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from docling_hybrid_cli.sim import MockConfig, MockServer


@pytest.fixture
def make_server() -> Iterator[Callable[..., MockServer]]:
    """Start servers with the given MockConfig fields; stop them all afterwards."""
    servers: list[MockServer] = []

    def make(**config: Any) -> MockServer:
        server = MockServer(MockConfig(**config)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., MockServer]) -> MockServer:
    return make_server()


@pytest.fixture
def client(server: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http
