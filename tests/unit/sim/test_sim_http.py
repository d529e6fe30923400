"""HTTP/1.1 framing: keep-alive, 100-continue, chunked bodies, garbage on the wire."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from sim_support import CHAT, chat_body, jpeg_b64, recv_head

from docling_hybrid_cli.sim import MockServer
from docling_hybrid_cli.sim.http import (
    MalformedRequest,
    Response,
    encode_response,
    parse_head,
    read_body,
)


def test_keep_alive_reuses_one_connection(server: MockServer, client: httpx.Client) -> None:
    """Sequential requests on one client share one TCP connection until Connection: close."""
    for _ in range(5):
        assert client.post(CHAT, json=chat_body(jpeg_b64(320, 200))).status_code == 200
    assert server.stats.connections_opened == 1
    closing = client.get("/health", headers={"connection": "close"})
    assert closing.headers["connection"] == "close"
    client.get("/health")
    assert server.stats.connections_opened == 2


def test_expect_100_continue_is_honoured(server: MockServer) -> None:
    """A client that waits for 100 Continue before the body gets it, then the answer."""
    body = json.dumps(chat_body(jpeg_b64(320, 200))).encode()
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), 5) as sock:
        sock.sendall(head.encode())
        assert recv_head(sock).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        assert recv_head(sock).startswith(b"HTTP/1.1 200 OK\r\n")


def test_chunked_request_body_is_read(client: httpx.Client) -> None:
    """A streamed (chunked) upload is reassembled before parsing."""
    body = json.dumps(chat_body(jpeg_b64(320, 200))).encode()
    chunks = iter([body[:1000], body[1000:]])
    response = client.post(CHAT, content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert "320x200" in response.json()["choices"][0]["message"]["content"]


def test_clients_that_vanish_or_send_garbage_leave_no_trace(
    server: MockServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Half-sent bodies and junk request lines are dropped quietly; serving goes on."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(f"POST {CHAT} HTTP/1.1\r\nContent-Length: 100000\r\n\r\n{{".encode())
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        assert recv_head(sock).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/health").status_code == 200
    server.stop()
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        pytest.param(b"GET /health HTTP/1.1\r\n\r\n", True, id="1.1-default"),
        pytest.param(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", False, id="1.1-close"),
        pytest.param(b"GET /health HTTP/1.0\r\n\r\n", False, id="1.0-default"),
        pytest.param(
            b"GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True, id="1.0-keep-alive"
        ),
    ],
)
def test_keep_alive_follows_the_http_version(head: bytes, keep_alive: bool) -> None:
    """HTTP/1.1 stays open unless told to close; HTTP/1.0 closes unless told to stay."""
    assert parse_head(head).keep_alive is keep_alive


def test_head_is_split_into_method_path_and_lowercase_headers() -> None:
    """The query string is dropped from the path; header names are matched case-insensitively."""
    request = parse_head(b"POST /v1/models?x=1 HTTP/1.1\r\nX-Thing:  a b \r\n\r\n")
    assert (request.method, request.path) == ("POST", "/v1/models")
    assert request.headers == {"x-thing": "a b"}


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"NONSENSE\r\n\r\n", "Invalid HTTP request line"),
        (b"GET / HTTP/2.0\r\n\r\n", "Unsupported HTTP version HTTP/2.0"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "Invalid HTTP header line"),
    ],
)
def test_malformed_heads_are_refused(head: bytes, message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        parse_head(head)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_chunked_body_with_trailers_is_reassembled() -> None:
    """Chunk extensions and trailer fields are skipped; the chunks are joined."""
    wire = b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n"
    headers = {"transfer-encoding": "chunked"}
    assert asyncio.run(_read(wire, headers)) == b"abcde"


@pytest.mark.parametrize(
    ("wire", "headers", "message"),
    [
        (b"zz\r\n", {"transfer-encoding": "chunked"}, "Invalid chunk size"),
        (b"3\r\nabcXY", {"transfer-encoding": "chunked"}, "Chunk not terminated by CRLF"),
        (b"", {"content-length": "-1"}, "Invalid Content-Length"),
    ],
)
def test_bad_bodies_are_refused(wire: bytes, headers: dict[str, str], message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        asyncio.run(_read(wire, headers))


async def _read(wire: bytes, headers: dict[str, str]) -> bytes:
    return await read_body(_reader(wire), headers)


def test_encoded_response_names_length_type_and_close() -> None:
    """One buffer: status line, fixed headers, extra headers, connection: close, then body."""
    response = Response(429, b"{}", headers=(("retry-after", "2"),))
    head, _, body = encode_response(response, keep_alive=False).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 429 Too Many Requests"
    assert lines[1].startswith("date: ")
    assert lines[2:] == [
        "server: docling-hybrid-mock",
        "content-length: 2",
        "content-type: application/json",
        "retry-after: 2",
        "connection: close",
    ]
    assert body == b"{}"
    untyped = encode_response(Response(200, content_type=None), keep_alive=True)
    assert b"content-type" not in untyped
    assert b"connection" not in untyped
