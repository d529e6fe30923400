"""Parsing JSON a server sent, where every failure is one ``ValueError``.

``json.loads`` fails in more ways than ``JSONDecodeError``: deeply nested
arrays raise ``RecursionError``, an integer of thousands of digits raises a
plain ``ValueError`` (Python's int-parsing limit), undecodable bytes raise
``UnicodeDecodeError``. Callers catch one exception type instead of
remembering all of them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["json_of"]


def json_of(response: httpx.Response) -> Any:
    """The response body as JSON; ``ValueError`` for anything that is not usable JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise ValueError(f"not JSON ({type(exc).__name__})") from None
