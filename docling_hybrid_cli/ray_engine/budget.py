"""One budget of request slots per replica, shared by every task of a Ray run.

Each worker's pool keeps its replicas' ``max_concurrency`` for itself; with
many workers those limits add up and together overload a server. So the
slots live here, once per (backend, replica), inside one actor
(:mod:`.coordinator`): a worker's pool takes a slot before each request and
gives it back after, with the request's latency and how it ended.

What a replica's limit is and how it moves is a :class:`SlotPolicy`: fixed
at the backend's ``max_concurrency`` by default; with ``"auto"``, the
replica's one adaptive controller (:mod:`.adaptive`), told of every slot
granted and fed every request's latency, outcome and answer tokens, plugs
in through ``policy_for``. A limit that shrinks takes nothing back: the
slots held beyond it drain as their requests end, and no new one is granted
until the replica is under its limit again.

This module is plain asyncio, so it is tested without Ray. A slot whose
holder died (a worker killed mid-request) would leak; :meth:`SlotBook.release_holder`
frees every lease of a task attempt, and the next attempt calls it first.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..endpoints import SlotOutcome

__all__ = ["FixedLimit", "SlotBook", "SlotPolicy", "replica_key"]


def replica_key(backend: str, label: str) -> str:
    """The budget's name for one replica of one backend."""
    return f"{backend} {label}"


class SlotPolicy(Protocol):
    """A replica's limit, and what it learns from each slot granted and given back."""

    @property
    def limit(self) -> int: ...

    def taken(self) -> None:
        """A slot was granted: one more request on its way to the replica."""
        ...

    def record(
        self, latency_s: float | None, outcome: SlotOutcome, completion_tokens: int | None = None
    ) -> None:
        """A slot came back: how its request ended (``"unused"``: none was sent; no latency)."""
        ...


class FixedLimit:
    """The backend's ``max_concurrency``, whatever the requests say."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a replica needs at least one slot")
        self._limit = limit

    @property
    def limit(self) -> int:
        return self._limit

    def taken(self) -> None:
        return None

    def record(
        self, latency_s: float | None, outcome: SlotOutcome, completion_tokens: int | None = None
    ) -> None:
        return None


@dataclass
class _Replica:
    policy: SlotPolicy
    in_use: int = 0
    peak: int = 0
    granted: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def room(self) -> bool:
        return self.in_use < self.policy.limit

    def load(self) -> float:
        return self.in_use / max(1, self.policy.limit)


@dataclass
class _Waiter:
    holder: str
    ticket: int
    keys: list[str]
    future: asyncio.Future[tuple[str, int]]


class SlotBook:
    """Slots per replica key; waiters are served first come, first served."""

    def __init__(
        self,
        limits: Mapping[str, int],
        policy_for: Callable[[str, int], SlotPolicy] | None = None,
    ) -> None:
        make = policy_for or (lambda _key, limit: FixedLimit(limit))
        self._replicas = {key: _Replica(make(key, limit)) for key, limit in limits.items()}
        self._waiters: list[_Waiter] = []
        self._leases: dict[int, tuple[str, str, int]] = {}
        """lease → (replica key, holder, ticket)."""
        self._by_ticket: dict[tuple[str, int], int] = {}
        self._ids = itertools.count(1)

    async def take(self, holder: str, ticket: int, keys: Sequence[str]) -> tuple[str, int]:
        """A slot on one of ``keys`` (the caller's order breaks ties): its key and lease.

        A key the book does not know is not limited here (the worker's own
        pool still limits it); ``holder`` names the task attempt, ``ticket``
        this request among its own.
        """
        if not keys:
            raise ValueError("take needs at least one replica")
        unknown = [k for k in keys if k not in self._replicas]
        if unknown:
            return unknown[0], self._lease(unknown[0], holder, ticket, count=False)
        granted = self._grant(list(keys), holder, ticket)
        if granted is not None:
            return granted
        future: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(holder, ticket, list(keys), future))
        return await future

    def _grant(self, keys: list[str], holder: str, ticket: int) -> tuple[str, int] | None:
        free = [k for k in keys if self._replicas[k].room]
        if not free:
            return None
        key = min(free, key=lambda k: (self._replicas[k].load(), keys.index(k)))
        return key, self._lease(key, holder, ticket)

    def _lease(self, key: str, holder: str, ticket: int, *, count: bool = True) -> int:
        lease = next(self._ids)
        if count:
            replica = self._replicas[key]
            replica.in_use += 1
            replica.granted += 1
            replica.peak = max(replica.peak, replica.in_use)
            replica.policy.taken()
            self._leases[lease] = (key, holder, ticket)
            self._by_ticket[(holder, ticket)] = lease
        return lease

    def give_back(
        self,
        lease: int,
        latency_s: float | None,
        outcome: SlotOutcome,
        completion_tokens: int | None = None,
    ) -> None:
        """Free the slot (an unknown or already freed lease is ignored) and serve waiters.

        The policy hears every slot that comes back, unused ones too (an
        adaptive controller counts the requests in flight).
        """
        entry = self._leases.pop(lease, None)
        if entry is None:
            return
        key, holder, ticket = entry
        self._by_ticket.pop((holder, ticket), None)
        replica = self._replicas[key]
        replica.in_use -= 1
        replica.outcomes[outcome] = replica.outcomes.get(outcome, 0) + 1
        replica.policy.record(latency_s, outcome, completion_tokens)
        self._serve()

    def limit(self, key: str) -> int | None:
        """A replica's limit now; None for a key the book does not know."""
        replica = self._replicas.get(key)
        return replica.policy.limit if replica is not None else None

    def limits(self) -> dict[str, int]:
        """Every replica's limit now."""
        return {key: r.policy.limit for key, r in self._replicas.items()}

    def abandon(self, holder: str, ticket: int) -> None:
        """The caller stopped waiting (cancelled): drop its wait, or free what it was given."""
        lease = self._by_ticket.get((holder, ticket))
        if lease is not None:
            self.give_back(lease, None, "unused")
            return
        self._drop_waiters(lambda w: w.holder == holder and w.ticket == ticket)

    def release_holder(self, holder: str) -> int:
        """Free every slot held, and every wait, by one task attempt (it died); how many slots."""
        self._drop_waiters(lambda w: w.holder == holder)
        leases = [lease for lease, (_, h, _) in self._leases.items() if h == holder]
        for lease in leases:
            self.give_back(lease, None, "unused")
        return len(leases)

    def _drop_waiters(self, which: Callable[[_Waiter], bool]) -> None:
        for waiter in [w for w in self._waiters if which(w)]:
            self._waiters.remove(waiter)
            if not waiter.future.done():
                waiter.future.cancel()

    def serve(self) -> None:
        """Hand slots to waiters after a limit grew outside a give-back (a /metrics scrape)."""
        self._serve()

    def _serve(self) -> None:
        """Hand freed slots to the earliest waiters that can use them.

        The scan stops as soon as no replica has room: with thousands of
        pages waiting across a cluster, a give-back stays cheap.
        """
        for waiter in list(self._waiters):
            if not any(r.room for r in self._replicas.values()):
                return
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            granted = self._grant(waiter.keys, waiter.holder, waiter.ticket)
            if granted is not None:
                self._waiters.remove(waiter)
                waiter.future.set_result(granted)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per replica: its limit now, slots in use, the most ever in use, slots granted."""
        return {
            key: {
                "limit": r.policy.limit,
                "in_use": r.in_use,
                "peak": r.peak,
                "granted": r.granted,
                "outcomes": dict(r.outcomes),
            }
            for key, r in self._replicas.items()
        }
