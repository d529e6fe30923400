"""Answers a broken or hostile server sends: each one a client must survive.

Each mode is a fault kind (``--faults``, :meth:`MockServer.inject`), answered
in place of the page:

* ``nested-json``: a 200 whose body is 100,000 nested arrays (a recursive parser overflows);
* ``huge-int``: a completion whose usage holds a 5,000-digit integer (past Python's
  int-parsing limit);
* ``oversized``: a well-formed completion of ``hostile_mb`` MiB;
* ``gzip-bomb``: the same, gzip-encoded into a few dozen KB;
* ``drip``: the page's answer sent one byte every ``drip_s`` seconds (every read is quick,
  the whole never is);
* ``huge-coords``: the page with a figure block whose coordinate has 400 digits;
* ``tag-flood``: the page after 8,000 unclosed ``<|ref|>`` tags;
* ``escapes``: the page laced with terminal escape sequences, BEL and NUL, and an error-like
  ``-->`` that would close an HTML comment.

The last three are usable pages: a client that survives them converts the page.
"""

from __future__ import annotations

import functools
import gzip
import json

from docling_hybrid_cli.sim.http import Response

__all__ = ["HOSTILE_KINDS", "hostile_content", "hostile_response"]

HOSTILE_KINDS = frozenset(
    {
        "nested-json",
        "huge-int",
        "oversized",
        "gzip-bomb",
        "drip",
        "huge-coords",
        "tag-flood",
        "escapes",
    }
)
CONTENT_KINDS = frozenset({"huge-coords", "tag-flood", "escapes"})
"""Modes that answer with (hostile) page content in a well-formed completion."""

_NESTING = 100_000


def hostile_content(kind: str, page: str) -> str:
    """The page text as a hostile model would return it (for :data:`CONTENT_KINDS`)."""
    if kind == "huge-coords":
        return f"<|ref|>image<|/ref|><|det|>[[{'9' * 400}, 1, 2, 3]]<|/det|>\n{page}"
    if kind == "tag-flood":
        return "<|ref|>" * 8000 + page
    if kind == "escapes":
        return f"\x1b[2J\x1b]8;;http://x.invalid\x1b\\{page}\x07\x00 --> \x9b31m"
    raise ValueError(f"not a content mode: {kind}")


def hostile_response(kind: str, body: bytes, *, hostile_mb: float, drip_s: float) -> Response:
    """The raw answer for a transport-level mode; ``body`` is the page's normal completion."""
    if kind == "nested-json":
        return Response(200, b"[" * _NESTING + b"]" * _NESTING)
    if kind == "huge-int":
        payload = json.loads(body)
        text = json.dumps(payload).replace('"prompt_tokens": ', '"prompt_tokens": ' + "9" * 5000, 1)
        return Response(200, text.encode())
    if kind == "oversized":
        return Response(200, _oversized(int(hostile_mb * 2**20)))
    if kind == "gzip-bomb":
        return Response(
            200, _bomb(int(hostile_mb * 2**20)), headers=(("content-encoding", "gzip"),)
        )
    if kind == "drip":
        return Response(200, body, drip_s=drip_s)
    raise ValueError(f"not a transport mode: {kind}")


@functools.cache
def _oversized(size: int) -> bytes:
    """A completion whose content is ``size`` bytes of text: valid JSON, absurd size."""
    head = b'{"id":"x","model":"m","choices":[{"message":{"content":"'
    tail = b'"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}'
    return head + b"a" * size + tail


@functools.cache
def _bomb(size: int) -> bytes:
    return gzip.compress(_oversized(size), compresslevel=9)
