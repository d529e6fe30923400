"""``max_concurrency = "auto"`` on Ray: one adaptive controller per replica, in the coordinator.

Locally each replica has its own :class:`~docling_hybrid_cli.concurrency.AdaptiveLimit`
in the one process that sends to it. On a cluster many workers send to the
same replica; if each ran a controller, each would find the server's whole
capacity for itself and together they would overload it. So the controller
lives where the replica's slots do -- the run's coordinator actor
(:mod:`.coordinator`) -- as the replica's :class:`~.budget.SlotPolicy`:

* a slot granted is a request sent (:meth:`AdaptivePolicy.taken`);
* a slot given back carries the request's latency (measured by the worker,
  send to answer), how it ended and the tokens it answered, and becomes the
  controller's sample or signal (:meth:`AdaptivePolicy.record`);
* the workers' pools run no controller: their replicas' capacity is what
  the coordinator last granted (:meth:`~docling_hybrid_cli.endpoints.EndpointPool.use_budget`).

The ``/metrics`` poller runs here too, once per replica, in the
coordinator's event loop (:class:`MetricsPollers`): the gauges feed the one
controller directly, with no extra hop, and a server is scraped once
whatever the number of workers. The coordinator runs on a cluster node, so
it reaches the replicas as the workers do (the driver may not: it can sit
outside the cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..concurrency import AdaptiveLimit, Outcome
from ..endpoints import SlotOutcome
from ..errors import DoclingHybridError
from ..keyguard import public_url
from ..server_load import poll_server_load
from ..settings import HttpBackendConfig, Settings
from .budget import FixedLimit, SlotPolicy, replica_key

__all__ = ["AdaptivePolicy", "MetricsPollers", "ReplicaEntry", "budget_entries", "make_policy"]

_OUTCOMES: dict[SlotOutcome, Outcome] = {
    "ok": "ok",
    "overloaded": "overload",
    "timeout": "timeout",
    "failed": "other",
    "unused": "other",
}


class AdaptivePolicy:
    """A replica's :class:`AdaptiveLimit` as the slot book's policy."""

    def __init__(self, controller: AdaptiveLimit) -> None:
        self.controller = controller

    @property
    def limit(self) -> int:
        return self.controller.limit

    def taken(self) -> None:
        self.controller.sent()

    def record(
        self, latency_s: float | None, outcome: SlotOutcome, completion_tokens: int | None = None
    ) -> None:
        # An unused slot only leaves the count in flight: no latency, no signal.
        self.controller.done(latency_s or 0.0, _OUTCOMES[outcome], completion_tokens)


@dataclass(frozen=True, slots=True)
class ReplicaEntry:
    """One replica in the run's budget: whose, which, its limit (the ceiling when adaptive)."""

    backend: str
    label: str
    """The replica's URL without credentials."""
    limit: int
    adaptive: bool

    @property
    def key(self) -> str:
        return replica_key(self.backend, self.label)


def budget_entries(settings: Settings) -> list[ReplicaEntry]:
    """Every replica of every HTTP backend of the chain: fixed ``max_concurrency``, or adaptive."""
    return [
        ReplicaEntry(config.name, public_url(url), config.concurrency_bound, config.adaptive)
        for config in settings.chain
        if isinstance(config, HttpBackendConfig)
        for url in config.base_urls
    ]


def make_policy(entry: ReplicaEntry) -> SlotPolicy:
    """The replica's policy: its one adaptive controller, or its fixed limit."""
    if entry.adaptive:
        return AdaptivePolicy(AdaptiveLimit(ceiling=entry.limit))
    return FixedLimit(entry.limit)


class MetricsPollers:
    """The ``/metrics`` scrapers of the adaptive replicas: one per replica for the whole run.

    Each uses a client built as the workers build theirs (the backend's own
    keys, headers and plain-HTTP guard), from the variables the coordinator's
    process has (a cluster passes the key variables to the job's processes).
    A backend that cannot be built here (a key variable missing on the
    coordinator's node) is steered by latency alone: its controllers are
    told the gauges are unavailable.
    """

    def __init__(self, settings: Settings, controllers: Mapping[str, AdaptiveLimit]) -> None:
        self.settings = settings
        self.controllers = controllers
        self._backends: list[Any] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> int:
        """Start scraping (in the running loop); how many replicas are scraped."""
        from ..backends import build_backend

        for config in self.settings.chain:
            if not (isinstance(config, HttpBackendConfig) and config.adaptive):
                continue
            keys = [replica_key(config.name, public_url(url)) for url in config.base_urls]
            try:
                backend = build_backend(config)
            except DoclingHybridError:
                for key in keys:
                    if key in self.controllers:
                        self.controllers[key].metrics_unavailable()
                continue
            self._backends.append(backend)
            pool = getattr(backend, "pool", None)
            for replica in pool.replicas if pool is not None else []:
                controller = self.controllers.get(replica_key(config.name, replica.label))
                if controller is not None:
                    self._tasks.append(
                        asyncio.create_task(
                            poll_server_load(replica.client, controller),
                            name=f"metrics {replica.label}",
                        )
                    )
        return len(self._tasks)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for backend in self._backends:
            with contextlib.suppress(Exception):
                await backend.aclose()
        self._backends = []
