"""Reading an answer's body under a size cap, decompression included.

A compressed answer can expand a thousandfold: a 256 KB gzip body is 256 MiB
of text, and decoders that inflate whole network chunks (aiohttp's and
httpx's both do) reach hundreds of MiB per request before any size check
sees a byte. So the client asks for uncompressed answers
(``Accept-Encoding: identity``), reads the raw bytes itself, and inflates
``gzip``/``deflate`` (which a server may still send) at most up to the cap.
Any other encoding is refused: it cannot be bounded here.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

__all__ = ["BodyTooLarge", "UnreadableBody", "read_capped"]


class BodyTooLarge(Exception):
    """The body passed the cap (after decompression)."""


class UnreadableBody(Exception):
    """The body's encoding is unknown, stacked, or its compressed data is damaged."""


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


_STEP = 256 * 1024
"""Bytes inflated per call: each step is copied once more into the body, so small steps
keep the transient memory near the cap itself."""


def _step(cap: int, have: int) -> int:
    return min(_STEP, cap + 1 - have)


async def read_capped(chunks: AsyncIterator[bytes], content_encoding: str, cap: int) -> bytes:
    """The decoded body from raw ``chunks``; :class:`BodyTooLarge` once it passes ``cap``."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        decoder = None
    elif encoding in _WBITS:
        decoder = zlib.decompressobj(wbits=_WBITS[encoding])
    else:
        raise UnreadableBody(f"answer uses the content encoding {encoding[:40]!r}")
    out = bytearray()
    try:
        async for raw in chunks:
            if decoder is None:
                out += raw
            else:
                # max_length (never 0, which means "no limit") inflates in small steps
                # and stops one byte past the cap; the rest stays in unconsumed_tail.
                out += decoder.decompress(raw, _step(cap, len(out)))
                while decoder.unconsumed_tail and len(out) <= cap:
                    out += decoder.decompress(decoder.unconsumed_tail, _step(cap, len(out)))
            if len(out) > cap:
                raise BodyTooLarge
        if decoder is not None:
            out += decoder.flush()
    except zlib.error as exc:
        raise UnreadableBody(f"answer's {encoding} data is damaged ({exc})") from None
    if len(out) > cap:
        raise BodyTooLarge
    return bytes(out)
