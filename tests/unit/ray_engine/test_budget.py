"""The shared request budget: slots per replica, first come first served, dead leases freed."""

from __future__ import annotations

import asyncio

import pytest

from docling_hybrid_cli.ray_engine.budget import FixedLimit, SlotBook, replica_key

A = replica_key("deepseek-vllm", "http://gpu1:8000/v1")
B = replica_key("deepseek-vllm", "http://gpu2:8000/v1")


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_slots_are_granted_up_to_the_limit_then_wait_until_one_comes_back() -> None:
    async def scenario() -> None:
        book = SlotBook({A: 2})
        first = await book.take("t1", 0, [A])
        second = await book.take("t2", 0, [A])
        third = asyncio.create_task(book.take("t1", 1, [A]))
        await asyncio.sleep(0)
        assert not third.done()
        assert book.stats()[A]["in_use"] == 2
        book.give_back(first[1], 0.5, "ok")
        key, _ = await asyncio.wait_for(third, 1)
        assert key == A
        stats = book.stats()[A]
        assert stats == {
            "limit": 2,
            "in_use": 2,
            "peak": 2,
            "granted": 3,
            "outcomes": {"ok": 1},
        }
        book.give_back(second[1], None, "overloaded")
        assert book.stats()[A]["outcomes"] == {"ok": 1, "overloaded": 1}

    run(scenario())


def test_the_least_loaded_replica_is_chosen_and_the_callers_order_breaks_ties() -> None:
    async def scenario() -> None:
        book = SlotBook({A: 2, B: 2})
        assert (await book.take("t", 0, [B, A]))[0] == B  # tie: the caller's best first
        assert (await book.take("t", 1, [B, A]))[0] == A  # B is busier now
        assert (await book.take("t", 2, [A]))[0] == A  # only A asked for
        assert (await book.take("t", 3, [A, B]))[0] == B
        assert book.stats()[A]["in_use"] == 2 and book.stats()[B]["in_use"] == 2

    run(scenario())


def test_waiters_are_served_in_arrival_order() -> None:
    async def scenario() -> None:
        book = SlotBook({A: 1})
        held = await book.take("t0", 0, [A])
        order: list[str] = []

        async def wait(holder: str) -> None:
            _, lease = await book.take(holder, 0, [A])
            order.append(holder)
            book.give_back(lease, 0.1, "ok")

        waiters = [asyncio.create_task(wait(f"t{i}")) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        book.give_back(held[1], 0.1, "ok")
        await asyncio.wait_for(asyncio.gather(*waiters), 1)
        assert order == ["t1", "t2", "t3"]

    run(scenario())


def test_a_dead_attempt_frees_its_slots_and_its_waits() -> None:
    async def scenario() -> None:
        book = SlotBook({A: 2})
        await book.take("dead", 0, [A])
        await book.take("dead", 1, [A])
        waiting = asyncio.create_task(book.take("dead", 2, [A]))
        other = asyncio.create_task(book.take("alive", 0, [A]))
        await asyncio.sleep(0)
        assert book.release_holder("dead") == 2
        assert (await asyncio.wait_for(other, 1))[0] == A
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert book.stats()[A]["in_use"] == 1
        assert book.stats()[A]["outcomes"] == {"unused": 2}

    run(scenario())


def test_an_abandoned_take_gives_back_what_it_was_granted_or_stops_waiting() -> None:
    async def scenario() -> None:
        book = SlotBook({A: 1})
        await book.take("t", 0, [A])
        book.abandon("t", 0)  # granted, then its caller was cancelled
        assert book.stats()[A]["in_use"] == 0
        await book.take("t", 1, [A])
        waiting = asyncio.create_task(book.take("t", 2, [A]))
        await asyncio.sleep(0)
        book.abandon("t", 2)  # still waiting
        with pytest.raises(asyncio.CancelledError):
            await waiting
        book.give_back(999, None, "ok")  # unknown lease: ignored
        assert book.stats()[A]["in_use"] == 1

    run(scenario())


def test_a_replica_the_book_does_not_know_is_not_limited_here() -> None:
    async def scenario() -> None:
        book = SlotBook({A: 1})
        for ticket in range(5):
            assert (await book.take("t", ticket, [B]))[0] == B
        assert B not in book.stats()

    run(scenario())


class _Halving:
    """A stand-in for an adaptive controller: halves the limit on overload."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken_count = 0
        self.seen: list[tuple[float | None, str, int | None]] = []

    def taken(self) -> None:
        self.taken_count += 1

    def record(self, latency_s: float | None, outcome: str, tokens: int | None = None) -> None:
        self.seen.append((latency_s, outcome, tokens))
        if outcome == "overloaded":
            self.limit = max(1, self.limit // 2)


def test_a_policy_sees_every_request_and_its_limit_is_what_the_book_grants() -> None:
    async def scenario() -> None:
        policies: dict[str, _Halving] = {}

        def policy_for(key: str, limit: int) -> _Halving:
            policies[key] = _Halving(limit)
            return policies[key]

        book = SlotBook({A: 4}, policy_for=policy_for)
        leases = [(await book.take("t", i, [A]))[1] for i in range(4)]
        assert policies[A].taken_count == 4
        book.give_back(leases[0], 2.0, "overloaded", 300)  # limit 4 -> 2, 3 still in use
        book.give_back(leases[1], None, "unused")  # no request: told, for the count in flight
        assert policies[A].seen == [(2.0, "overloaded", 300), (None, "unused", None)]
        waiting = asyncio.create_task(book.take("t", 9, [A]))
        await asyncio.sleep(0)
        assert not waiting.done()  # 2 in use, limit 2
        book.give_back(leases[2], 0.3, "ok")
        await asyncio.wait_for(waiting, 1)
        assert book.stats()[A]["limit"] == 2

    run(scenario())


def test_a_fixed_limit_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FixedLimit(0)
    assert FixedLimit(3).limit == 3
