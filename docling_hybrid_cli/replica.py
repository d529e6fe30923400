"""One server of an endpoint pool: its client, its load, its recent speed, its health state.

The pool (:mod:`~docling_hybrid_cli.endpoints`) chooses among replicas and
ejects or re-admits them; a replica only keeps the figures those choices
read. Its capacity is the backend's fixed ``max_concurrency`` or, with
``"auto"``, its own :class:`~docling_hybrid_cli.concurrency.AdaptiveLimit` --
or, when a shared budget hosts that controller for many clients
(``convert --ray``), the limit the budget last granted (``shared_capacity``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .client import ChatClient, ChatResult
from .concurrency import AdaptiveLimit
from .keyguard import public_url

__all__ = ["LATENCY_WEIGHT", "Replica"]

LATENCY_WEIGHT = 0.3
"""Weight of the newest answer in a replica's running mean latency: recent, not jumpy."""


class Replica:
    """One server of a pool: its client, its load, its recent speed and its health."""

    def __init__(
        self,
        url: str,
        client: ChatClient,
        capacity: int,
        limit: AdaptiveLimit | None = None,
    ) -> None:
        self.url = url
        """The replica's API root, as configured (``http://gpu1:8000/v1``)."""
        self.client = client
        self.fixed_capacity = capacity
        self.limit = limit
        """The replica's adaptive limit (``max_concurrency = "auto"``); None: fixed or shared."""
        self.shared_capacity: int | None = None
        """The limit a shared budget grants this replica now (its controller runs there, once for
        every client: :meth:`~docling_hybrid_cli.endpoints.EndpointPool.use_budget`); None: not
        shared. ``fixed_capacity`` stays the ceiling, the most it can become."""
        self.outstanding = 0
        self.latency_s: float | None = None
        """Running mean of recent answers' latency; None until the first answer."""
        self.ejected = False
        self.reason = ""
        """Why the replica was last ejected ("" while it never was)."""
        self.probe_failures = 0
        self.next_probe_at = 0.0
        self.served = 0
        self.ejections = 0
        self.running: set[asyncio.Future[ChatResult]] = set()

    @property
    def label(self) -> str:
        """The URL without credentials: what reports and messages show."""
        return public_url(self.url)

    @property
    def capacity(self) -> int:
        """Requests this replica may have in flight now: its controller's limit, the shared
        budget's, or the fixed ``max_concurrency``."""
        if self.limit is not None:
            return self.limit.limit
        if self.shared_capacity is not None:
            return max(1, min(self.shared_capacity, self.fixed_capacity))
        return self.fixed_capacity

    @property
    def bound(self) -> int:
        """The most this replica's capacity can become (the ceiling, when adaptive)."""
        return self.limit.ceiling if self.limit is not None else self.fixed_capacity

    @property
    def has_room(self) -> bool:
        return self.outstanding < self.capacity

    def rank(self) -> tuple[int, float]:
        """Lower is better: fewest outstanding requests, then fastest recent answers."""
        return (self.outstanding, self.latency_s if self.latency_s is not None else 0.0)

    def record_latency(self, seconds: float) -> None:
        if self.latency_s is None:
            self.latency_s = seconds
        else:
            self.latency_s += LATENCY_WEIGHT * (seconds - self.latency_s)

    def snapshot(self) -> dict[str, Any]:
        """Plain figures for reports: URL, state, load and speed."""
        return {
            "url": self.label,
            "state": "ejected" if self.ejected else "live",
            "reason": self.reason or None,
            "outstanding": self.outstanding,
            "served": self.served,
            "ejections": self.ejections,
            "latency_s": round(self.latency_s, 4) if self.latency_s is not None else None,
            "capacity": self.capacity,
            "concurrency": self.limit.snapshot() if self.limit is not None else None,
        }
