"""Endpoint pools: one backend served by several replicas of the same model.

A backend's ``base_url`` may list several servers (one vLLM per GPU, or
several boxes). The pool sends each request to the live replica with the
fewest requests outstanding, ties going to the one that answered fastest
lately (a weighted running mean), so a busier or slower GPU gets fewer pages
without any setting. Each replica has its own ``max_concurrency`` (the
backend's value, per replica; with ``"auto"`` its own
:class:`~docling_hybrid_cli.concurrency.AdaptiveLimit`, fed by its answers,
errors and ``/metrics``: :mod:`~docling_hybrid_cli.server_load`) and its own health:

* a replica that refuses a connection is ejected at once; nothing was sent,
  so the request goes straight to another replica: a dead replica costs no
  retry, no backoff and no timeout;
* a dropped connection sends the request to another replica at once, and
  the replica is probed now rather than at the next interval; a timeout or
  a 5xx answer is retried as usual (the next attempt picks the best replica
  again) and also gets its replica probed now;
* a background task probes every replica's ``/health`` each
  ``probe_interval_s``; a refused connection ejects it at once, and
  :data:`PROBE_FAILURES_TO_EJECT` failed probes in a row (no answer within
  ``probe_timeout_s``, or a 5xx) with no page answered in between eject it
  too -- one slow probe of a busy server is not enough;
* ejecting a replica cancels the requests in flight on it and sends them to
  the others at once, instead of waiting out their timeouts (a hung GPU);
* an ejected replica is re-probed at the same pace and re-admitted as soon
  as its ``/health`` answers (any answer below 500: servers without
  ``/health`` answer 404 and are alive).

Ejection is each replica's circuit breaker: open while ejected, the
background probe is its half-open trial, a healthy answer closes it. With a
single URL none of this runs and the backend is a plain client (the chain's
breaker handles a dead server). When every replica is ejected a request
fails with :class:`~docling_hybrid_cli.errors.BackendConnectError`, which the
retry policy and the chain's breaker treat like one server refusing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .client import ChatResult
from .concurrency import Outcome
from .errors import (
    BackendConnectError,
    BackendError,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
)
from .replica import Replica
from .replica_budget import ReplicaBudget, SlotOutcome, slot_outcome
from .server_load import outcome_of, start_pollers

__all__ = [
    "PROBE_FAILURES_TO_EJECT",
    "EndpointPool",
    "ProbeOutcome",
    "Replica",
    "ReplicaBudget",
    "SlotOutcome",
    "slot_outcome",
]

PROBE_FAILURES_TO_EJECT = 2
"""Failed probes in a row (timeouts, 5xx) that eject a replica; a refused connection needs one."""

Moved = Callable[[str], None]
"""Told, in words, when a request leaves a replica for another (progress detail)."""


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """What one ``/health`` probe found: alive (any answer below 500) or why not."""

    replica: Replica
    alive: bool
    detail: str = ""


class _Ejected(Exception):
    """A request was cancelled because its replica was ejected while it ran."""


class EndpointPool:
    """The replicas of one backend, the choice among them, and their health."""

    def __init__(
        self,
        backend: str,
        replicas: Sequence[Replica],
        *,
        probe_interval_s: float = 2.0,
        probe_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        probe_in_background: bool = True,
    ) -> None:
        """``probe_in_background=False`` leaves probing to whoever calls :meth:`probe_due`."""
        if not replicas:
            raise ValueError("a pool needs at least one replica")
        self.backend = backend
        self.replicas = list(replicas)
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._background = probe_in_background
        self._changed: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._prober: asyncio.Task[None] | None = None
        self._pollers: list[asyncio.Task[None]] = []
        self.budget: ReplicaBudget | None = None
        """Slots shared with other clients, taken on top of each replica's own (``--ray``):
        set it with :meth:`use_budget`."""

    @property
    def adaptive(self) -> bool:
        """Whether any replica's capacity is found at run time."""
        return any(r.limit is not None for r in self.replicas)

    def capacity(self) -> tuple[int, int]:
        """(requests the live replicas may have in flight now, the most they ever may).

        When every replica is ejected the sums are over all of them: the
        pipeline still needs a size for pages on their way down the chain.
        """
        live = [r for r in self.replicas if not r.ejected] or self.replicas
        return sum(r.capacity for r in live), sum(r.bound for r in self.replicas)

    def use_budget(self, budget: ReplicaBudget) -> None:
        """Take every request's slot from ``budget`` too, shared with other clients.

        An adaptive replica gives up its own controller: the budget runs one
        for all clients, and the replica's capacity here is what the budget
        last granted (refreshed with every slot taken) -- many clients each
        adapting their own share would together overload the server.
        """
        self.budget = budget
        for replica in self.replicas:
            if replica.limit is not None:
                replica.limit = None
                replica.shared_capacity = budget.granted(self.backend, replica.label)
        self._follow_budget()

    def _follow_budget(self) -> None:
        """Shared replicas' capacity: the limits the budget last said."""
        if self.budget is None:
            return
        for replica in self.replicas:
            if replica.shared_capacity is not None:
                granted = self.budget.granted(self.backend, replica.label)
                if granted is not None:
                    replica.shared_capacity = granted

    @property
    def pooled(self) -> bool:
        """Several replicas: choice, ejection and probing are in play."""
        return len(self.replicas) > 1

    @property
    def primary(self) -> Replica:
        """The first live replica (the first one when all are ejected): for one-server checks."""
        return next((r for r in self.replicas if not r.ejected), self.replicas[0])

    def choose(self, exclude: Collection[Replica] = ()) -> Replica | None:
        """The live replica with room and the best rank; None when none has room."""
        candidates = [r for r in self.replicas if not r.ejected and r.has_room and r not in exclude]
        return min(candidates, key=Replica.rank, default=None)

    # ----------------------------------------------------------------- requests

    async def call(self, body: bytes, moved: Moved | None = None) -> ChatResult:
        """Send one chat request to the best replica; move it at once if that replica is lost.

        The answer names the replica that served it (``ChatResult.replica``).
        Errors that are the request's own (a 4xx, a bad answer, a timeout)
        are raised for the retry policy, as from a single server.
        """
        if self.pooled and self._background:
            self._start_prober()
        if self._background and not self._pollers and self.adaptive:
            self._pollers = start_pollers((r.client, r.limit) for r in self.replicas if r.limit)
        tried: list[Replica] = []
        while True:
            replica, lease = await self._acquire(tried)
            try:
                result = await self._send_on(replica, body, lease)
            except _Ejected:
                lost: BackendError = BackendUnavailable(
                    f"{self.backend}: replica {replica.label} was ejected mid-request "
                    f"({replica.reason})",
                    backend=self.backend,
                )
                self._move_or_raise(replica, tried, lost, moved)
                continue
            except BackendConnectError as exc:
                if self.pooled:
                    self.eject(replica, "refuses connections")
                self._move_or_raise(replica, tried, exc, moved)
                continue
            except (BackendTimeout, BackendServerError):
                if self.pooled:
                    self.probe_soon(replica)
                raise
            except BackendUnavailable as exc:
                if exc.status is not None:
                    raise  # a 429: the replica is alive and busy
                if self.pooled:
                    self.probe_soon(replica)  # dropped: dying, or a passing fault
                self._move_or_raise(replica, tried, exc, moved)
                continue
            replica.served += 1
            replica.probe_failures = 0  # it answers pages: a slow /health alone is no reason
            replica.record_latency(result.latency_s)
            return replace(result, replica=replica.label)

    def _move_or_raise(
        self, replica: Replica, tried: list[Replica], error: BackendError, moved: Moved | None
    ) -> None:
        """Let the request go to another live replica it has not tried yet, or raise ``error``."""
        tried.append(replica)
        if not any(not r.ejected and r not in tried for r in self.replicas):
            raise error
        if moved is not None:
            moved(f"{error} — sent to another replica")

    async def _acquire(self, exclude: Collection[Replica]) -> tuple[Replica, object | None]:
        """Reserve a slot on the best replica, waiting while every live one is full.

        With a shared budget the slot is the budget's too: it picks, among the
        replicas with room here (best first), one with room everywhere.
        """
        while True:
            replica = self.choose(exclude)
            if replica is not None and self.budget is not None:
                candidates = sorted(
                    (r for r in self.replicas if not r.ejected and r.has_room and r not in exclude),
                    key=Replica.rank,
                )
                label, lease = await self.budget.take(self.backend, [r.label for r in candidates])
                self._follow_budget()
                replica = next(r for r in candidates if r.label == label)
                if replica.ejected:  # lost while we waited for the budget
                    self.budget.give_back(lease, None, "unused")
                    continue
                replica.outstanding += 1
                return replica, lease
            if replica is not None:
                replica.outstanding += 1
                return replica, None
            if not any(not r.ejected and r not in exclude for r in self.replicas):
                raise self._all_down()
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    async def _send_on(self, replica: Replica, body: bytes, lease: object | None) -> ChatResult:
        """The request on ``replica``, as a task the replica can cancel if it is ejected.

        The budget's slot (``lease``) goes back with how the request went.
        """
        task = asyncio.ensure_future(replica.client.chat(body))
        replica.running.add(task)
        limit = replica.limit
        if limit is not None:
            limit.sent()
        started = self._clock()
        outcome: Outcome = "other"
        slot: SlotOutcome = "failed"
        tokens: int | None = None
        try:
            result = await task
            outcome, slot, tokens = "ok", "ok", result.completion_tokens
            return result
        except BackendError as exc:
            outcome = outcome_of(exc)
            slot = slot_outcome(outcome)
            raise
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if (
                task.cancelled()
                and replica.ejected
                and (current is None or not current.cancelling())
            ):
                raise _Ejected from None
            raise
        finally:
            replica.running.discard(task)
            if not task.done():
                task.cancel()
            replica.outstanding -= 1
            elapsed = self._clock() - started
            if limit is not None:
                limit.done(elapsed, outcome, tokens)
            if lease is not None and self.budget is not None:
                self.budget.give_back(lease, elapsed, slot, tokens)
            self._notify()

    def _all_down(self) -> BackendConnectError:
        reasons = "; ".join(f"{r.label}: {r.reason or 'unreachable'}" for r in self.replicas)
        return BackendConnectError(
            f"{self.backend}: every replica is ejected ({reasons})", backend=self.backend
        )

    def _notify(self) -> None:
        """Wake requests waiting for room: a slot was freed or a replica changed state."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # ----------------------------------------------------------------- health

    def eject(self, replica: Replica, reason: str) -> None:
        """Stop sending to ``replica`` and move its requests in flight to the others now."""
        if replica.ejected:
            return
        replica.ejected = True
        replica.reason = reason
        replica.ejections += 1
        replica.probe_failures = 0
        replica.next_probe_at = self._clock() + self.probe_interval_s
        for task in list(replica.running):
            task.cancel()
        self._notify()

    def readmit(self, replica: Replica) -> None:
        """Send to ``replica`` again: its ``/health`` answered."""
        if not replica.ejected:
            return
        replica.ejected = False
        replica.latency_s = None  # a restarted server's speed is not its old one
        self._notify()

    def probe_soon(self, replica: Replica) -> None:
        """Probe ``replica`` now rather than at its next interval."""
        replica.next_probe_at = min(replica.next_probe_at, self._clock())
        if self._wake is not None:
            self._wake.set()

    async def probe(self, replica: Replica) -> ProbeOutcome:
        """``GET /health`` on the replica's server; eject or re-admit it by the answer."""
        replica.next_probe_at = self._clock() + self.probe_interval_s
        url = f"{replica.client.server_root}/health"
        try:
            await replica.client.get(url, timeout_s=self.probe_timeout_s)
            outcome = ProbeOutcome(replica, alive=True)
        except BackendConnectError:
            outcome = ProbeOutcome(replica, alive=False, detail="refuses connections")
            self.eject(replica, outcome.detail)
            return outcome
        except BackendError as exc:
            if exc.status is not None and exc.status < 500:
                outcome = ProbeOutcome(replica, alive=True)
            else:
                detail = (
                    f"/health answered HTTP {exc.status}"
                    if exc.status is not None
                    else f"/health gave no answer within {self.probe_timeout_s:g} s"
                    if isinstance(exc, BackendTimeout)
                    else "/health dropped the connection"
                )
                outcome = ProbeOutcome(replica, alive=False, detail=detail)
        if outcome.alive:
            replica.probe_failures = 0
            self.readmit(replica)
            return outcome
        replica.probe_failures += 1
        if replica.probe_failures >= PROBE_FAILURES_TO_EJECT:
            self.eject(replica, outcome.detail)
        return outcome

    async def probe_due(self) -> list[ProbeOutcome]:
        """Probe, concurrently, every replica whose probe is due by the pool's clock."""
        now = self._clock()
        due = [r for r in self.replicas if r.next_probe_at <= now]
        return list(await asyncio.gather(*(self.probe(r) for r in due)))

    def _start_prober(self) -> None:
        if self._prober is None or self._prober.done():
            self._prober = asyncio.create_task(self._probe_forever(), name=f"probe {self.backend}")

    async def _probe_forever(self) -> None:
        """Probe replicas as they fall due, until the pool is closed."""
        self._wake = asyncio.Event()
        while True:
            self._wake.clear()
            await self.probe_due()
            soonest = min(r.next_probe_at for r in self.replicas)
            delay = max(0.0, soonest - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def aclose(self) -> None:
        for task in self._pollers:
            task.cancel()
        for task in self._pollers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pollers = []
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None
        for replica in self.replicas:
            await replica.client.aclose()

    def snapshot(self) -> list[dict[str, Any]]:
        return [r.snapshot() for r in self.replicas]
