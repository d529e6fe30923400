"""HTTP/1.1 on asyncio streams: just enough of the protocol to serve OpenAI-compatible clients.

The benchmark measures the *client* against the simulated server, so this layer must cost little
per request: heads are split by hand, bodies are read with ``readexactly`` by Content-Length (or
reassembled from chunks), and responses are encoded in one write. Keep-alive follows HTTP/1.1
(open unless ``Connection: close``) and HTTP/1.0 (closed unless ``Connection: keep-alive``).
"""

from __future__ import annotations

import asyncio
import http
import json
import socket
import struct
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

__all__ = [
    "Headers",
    "MalformedRequest",
    "Request",
    "Response",
    "bearer_token_matches",
    "encode_response",
    "json_response",
    "read_request",
    "reset_connection",
]

Headers = tuple[tuple[str, str], ...]
"""Extra response headers, in the order they are sent."""


@dataclass(slots=True)
class Request:
    """One parsed request; ``path`` has its query string removed, header names are lowercase."""

    method: str
    path: str
    headers: dict[str, str]
    keep_alive: bool
    body: bytes = b""


@dataclass(slots=True)
class Response:
    """An answer to encode; ``content_type`` None sends no Content-Type (vLLM's ``/health``)."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: Headers = ()
    drip_s: float = 0.0
    """Send the body one byte every ``drip_s`` seconds (a hostile or broken server)."""


class MalformedRequest(Exception):
    """The bytes on the wire are not HTTP/1.x we can answer; reply 400 and close."""


def json_response(status: int, payload: Any, headers: Headers = ()) -> Response:
    """A compact JSON body, as vLLM (FastAPI) sends it."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, "application/json", headers)


def bearer_token_matches(request: Request, api_key: str | None) -> bool:
    """Whether the request may pass an ``--api-key`` guard (always, when no key is set)."""
    return api_key is None or request.headers.get("authorization") == f"Bearer {api_key}"


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """The next request on a connection, or None when the client closed it between requests.

    A client that sent ``Expect: 100-continue`` is told to go on before its body is read.
    Raises :class:`MalformedRequest` for bytes that are not HTTP/1.x, and lets
    :class:`asyncio.IncompleteReadError` through when the client vanishes mid-request.
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the normal end of a keep-alive connection
    request = parse_head(head)
    if "100-continue" in request.headers.get("expect", "").lower():
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.body = await read_body(reader, request.headers)
    return request


def parse_head(head: bytes) -> Request:
    """The request line and headers (up to and including the blank line), without the body."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError as exc:
        raise MalformedRequest("Invalid HTTP request line") from exc
    if not version.startswith("HTTP/1."):
        raise MalformedRequest(f"Unsupported HTTP version {version}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise MalformedRequest("Invalid HTTP header line")
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection
    if version == "HTTP/1.0":
        keep_alive = "keep-alive" in connection
    return Request(method, target.partition("?")[0], headers, keep_alive)


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """The body the headers announce: chunked, by Content-Length, or none at all."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    length_text = headers.get("content-length")
    if length_text is None:
        return b""
    if not length_text.isdigit():
        raise MalformedRequest("Invalid Content-Length")
    return await reader.readexactly(int(length_text))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise MalformedRequest("Invalid chunk size") from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields carry nothing the simulated server needs
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise MalformedRequest("Chunk not terminated by CRLF")


def encode_response(response: Response, keep_alive: bool) -> bytes:
    """Status line, headers and body as one buffer; ``connection: close`` unless kept alive."""
    phrase = http.HTTPStatus(response.status).phrase
    lines = [
        f"HTTP/1.1 {response.status} {phrase}",
        f"date: {formatdate(usegmt=True)}",
        "server: docling-hybrid-mock",
        f"content-length: {len(response.body)}",
    ]
    if response.content_type is not None:
        lines.append(f"content-type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP RST, the way a crashed proxy or worker does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
