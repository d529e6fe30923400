"""Joining (or starting) the Ray cluster for one command, and the run's Ray objects.

The address comes from ``--ray-address``, else ``RAY_ADDRESS``, else
``[ray] address``; with none, the command starts a local Ray instance
(``ray.local_cpus`` CPUs, no dashboard) and stops it when it ends. Ray is
imported here and only here on the driver, and only for ``--ray``: a normal
run and ``--help`` never load it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..keyguard import public_url
from ..settings import HttpBackendConfig, Settings
from .adaptive import ReplicaEntry, budget_entries

__all__ = ["RayCluster", "connect", "replica_limits", "secret_variables"]


@dataclass
class RayCluster:
    """The connection of this command to Ray: where, and what the cluster offers."""

    address: str | None
    """None: a local instance started (and stopped) by this command."""
    cpus: int
    alive_nodes: int
    start_s: float

    def coordinator(self, entries: Sequence[ReplicaEntry], settings: Settings) -> Any:
        """The run's coordinator actor (request budget, adaptive limits, page ledger).

        It asks for no CPU: it must never wait behind the tasks it serves.
        """
        import ray

        from .coordinator import Coordinator

        actor = ray.remote(num_cpus=0, max_restarts=0)(Coordinator)
        return actor.remote(list(entries), settings)

    def range_task(self, max_retries: int) -> Any:
        """The streaming generator task that converts one page range (:mod:`.tasks`)."""
        import ray

        from .tasks import convert_range

        return ray.remote(convert_range).options(
            num_returns="streaming",
            max_retries=max_retries,
            retry_exceptions=False,
            num_cpus=1,
        )


def replica_limits(settings: Settings) -> dict[str, int]:
    """Every replica of every HTTP backend of the chain with its ``max_concurrency``.

    ``"auto"`` gives the ceiling, the most its controller (in the coordinator) may grant.
    """
    return {entry.key: entry.limit for entry in budget_entries(settings)}


def secret_variables(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables the chain's backends read their keys and secret headers from, if set."""
    names: set[str] = set()
    for config in settings.chain:
        if isinstance(config, HttpBackendConfig):
            if config.api_key_env:
                names.add(config.api_key_env)
            names.update(config.headers_env.values())
    return {name: environ[name] for name in sorted(names) if environ.get(name)}


@contextmanager
def connect(settings: Settings, address: str | None) -> Iterator[RayCluster]:
    """Join the cluster at ``address`` (or the configured one), or start a local instance.

    On a cluster, the workers get the backends' key variables from here (in
    the job's runtime environment); a local instance's workers inherit them.
    A process that is connected to Ray already (``ray.init`` called by the
    program that embeds us) keeps its connection, before and after.
    """
    import time

    import ray

    address = address or os.environ.get("RAY_ADDRESS") or settings.ray.address or None
    started = time.perf_counter()
    joined = ray.is_initialized()  # a program that embeds us and connected already: its Ray
    try:
        if joined:
            pass
        elif address is None:
            ray.init(
                address="local",
                num_cpus=settings.ray.local_cpus,
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
        else:
            env = secret_variables(settings, os.environ)
            ray.init(
                address=address,
                runtime_env={"env_vars": env} if env else None,
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        shown = public_url(address) if address else "a local Ray instance"
        raise ConfigError(f"cannot start Ray ({shown}): {str(exc).splitlines()[0]}") from None
    try:
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
        cluster = RayCluster(
            address=address,
            cpus=max(1, int(resources.get("CPU", 1))),
            alive_nodes=sum(1 for node in nodes if node.get("Alive")),
            start_s=time.perf_counter() - started,
        )
        yield cluster
    finally:
        if not joined:
            ray.shutdown()
