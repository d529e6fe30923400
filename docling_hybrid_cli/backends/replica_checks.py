"""``check-server`` for a pool: every replica checked as its own server, then one verdict.

Each replica gets the full checks a single server gets (``/health``,
``/models``, the family's own, such as DeepSeek's n-gram guard) into a report
of its own; the backend's report then lists every replica (ready, loading,
dead or misconfigured, its ``max_model_len`` and latency) and is ready when
at least one replica is: conversion works, on fewer GPUs, and each replica
that is not ready is a warning naming it. A replica found unfit is ejected
from the pool, so a probe page that follows goes to a ready one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from ..client import ChatClient
from ..endpoints import EndpointPool, Replica
from ..health_report import HealthReport, ReplicaReport, ReplicaState
from ..keyguard import public_url

__all__ = ["check_replicas", "replica_state"]

CheckServer = Callable[[HealthReport, ChatClient], Awaitable[None]]


def replica_state(report: HealthReport) -> ReplicaState:
    """A server's check as a replica's state (see :data:`ReplicaState`)."""
    if report.ready:
        return "ready"
    if report.state == "misconfigured":
        return "misconfigured"
    if report.state == "unhealthy" and report.health_status == 503:
        return "loading"
    return "dead"


async def check_replicas(pool: EndpointPool, report: HealthReport, check: CheckServer) -> None:
    """Check every replica of ``pool`` concurrently and fold the verdicts into ``report``."""
    checked = await asyncio.gather(*(_check_one(r, report, check) for r in pool.replicas))
    for replica, sub in zip(pool.replicas, checked, strict=True):
        report.replicas.append(
            ReplicaReport(
                url=sub.url,
                state=replica_state(sub),
                ready=sub.ready,
                max_model_len=sub.max_model_len,
                latency_ms=sub.latency_ms,
                health_status=sub.health_status,
                reason=sub.reason,
                hint=sub.hint,
                warnings=list(sub.warnings),
            )
        )
        if not sub.ready:
            pool.eject(replica, sub.reason or sub.state)
    ready = [sub for sub in checked if sub.ready]
    if report.key is not None:
        accepted = [sub.key.accepted for sub in checked if sub.key is not None]
        report.key.accepted = True if any(accepted) else False if False in accepted else None
    if not ready:
        first = checked[0]
        report.health_status = first.health_status
        report.served_models = first.served_models
        states = "; ".join(f"{public_url(s.url)}: {s.reason}" for s in checked)
        report.fail(first.state, f"no replica is ready ({states})", first.hint)
        return
    _fold_ready(report, ready)
    for sub in checked:
        if not sub.ready:
            state = replica_state(sub)
            report.warnings.append(f"replica {public_url(sub.url)} is {state}: {sub.reason}")


def _fold_ready(report: HealthReport, ready: list[HealthReport]) -> None:
    """The backend's facts from its ready replicas: the smallest context, the best latency."""
    # The context check's facts come from the smallest context a page may meet.
    tightest = min(ready, key=lambda s: (s.max_model_len is None, s.max_model_len or 0))
    report.health_status = tightest.health_status
    report.served_models = tightest.served_models
    report.max_model_len = tightest.max_model_len
    report.image_tokens = tightest.image_tokens
    report.max_tokens = tightest.max_tokens
    report.fitted_max_tokens = tightest.fitted_max_tokens
    latencies = [s.latency_ms for s in ready if s.latency_ms is not None]
    report.latency_ms = min(latencies) if latencies else None
    guards = [s.ngram_guard for s in ready if s.ngram_guard is not None]
    report.ngram_guard = all(guards) if guards else None
    for sub in ready:
        for note in sub.notes:
            if note not in report.notes:
                report.notes.append(note)
        for warning in sub.warnings:
            if warning not in report.warnings:
                report.warnings.append(warning)


async def _check_one(replica: Replica, parent: HealthReport, check: CheckServer) -> HealthReport:
    sub = HealthReport(
        backend=parent.backend,
        kind=parent.kind,
        ready=True,
        state="ready",
        url=replica.client.server_root,
        model=parent.model,
        key=replace(parent.key) if parent.key is not None else None,
    )
    await check(sub, replica.client)
    return sub
