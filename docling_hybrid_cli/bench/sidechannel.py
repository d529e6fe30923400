"""The benchmark's own GETs to the server (metrics, the simulated server's counters).

They are counted because each opens a connection of its own, and the report's
"connections opened" must be the client's alone: the count lives on the
object the run owns, not in module state.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

__all__ = ["SideChannel"]


class SideChannel:
    """Plain blocking GETs (never through a proxy) that count themselves."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._lock = threading.Lock()
        self.requests = 0

    def get_text(self, url: str, timeout_s: float = 5.0) -> str | None:
        """GET ``url``; None when it is not there, not 200 or unreachable."""
        return self._fetch(urllib.request.Request(url), timeout_s)

    def post(self, url: str, timeout_s: float = 5.0) -> str | None:
        """POST an empty body to ``url`` (the simulated server's controls)."""
        return self._fetch(urllib.request.Request(url, data=b"", method="POST"), timeout_s)

    def _fetch(self, request: urllib.request.Request, timeout_s: float) -> str | None:
        with self._lock:  # the metrics sampler calls from a worker thread
            self.requests += 1
        try:
            with self._opener.open(request, timeout=timeout_s) as response:
                if response.status != 200:
                    return None
                body: bytes = response.read()
                return body.decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError):
            return None
