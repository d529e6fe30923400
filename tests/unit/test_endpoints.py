"""EndpointPool: the choice of replica, ejection, moving requests, re-admission.

Every replica is a host behind one ``httpx.MockTransport`` whose behaviour the
test sets (answer, refuse, hang, drop, time out; ``/health`` status). Time is
a fake clock: probes fall due when the test moves it, never by sleeping.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
import pytest

from docling_hybrid_cli.client import ChatClient, ChatResult
from docling_hybrid_cli.concurrency import AdaptiveLimit
from docling_hybrid_cli.endpoints import PROBE_FAILURES_TO_EJECT, EndpointPool, Replica
from docling_hybrid_cli.errors import (
    BackendConnectError,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
)

T = TypeVar("T")
HOSTS = ("gpu1.invalid", "gpu2.invalid", "gpu3.invalid")
BODY = b'{"model": "m", "messages": []}'
INTERVAL = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Fleet:
    """What each simulated replica does with chat requests and health probes."""

    def __init__(self) -> None:
        self.chat: dict[str, str] = dict.fromkeys(HOSTS, "ok")
        self.health: dict[str, Any] = dict.fromkeys(HOSTS, 200)
        self.answered: Counter[str] = Counter()
        self.arrived: Counter[str] = Counter()
        self.probed: Counter[str] = Counter()
        self.hung = asyncio.Event()  # set once a request is hanging on a replica
        self.cancelled: Counter[str] = Counter()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if request.url.path.endswith("/health"):
            self.probed[host] += 1
            return self._misbehave(self.health[host], request) or httpx.Response(
                int(self.health[host])
            )
        self.arrived[host] += 1
        mode = self.chat[host]
        if mode == "hang":
            self.hung.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled[host] += 1
                raise
        failure = self._misbehave(mode, request)
        if failure is not None:
            return failure
        self.answered[host] += 1
        return httpx.Response(
            200,
            json={
                "model": "m",
                "choices": [{"message": {"content": f"page from {host}"}, "finish_reason": "stop"}],
            },
        )

    @staticmethod
    def _misbehave(mode: Any, request: httpx.Request) -> httpx.Response | None:
        if mode == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if mode == "drop":
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        if mode == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if mode == "500":
            return httpx.Response(500, json={"message": "engine error"})
        return None


def make_pool(
    fleet: Fleet, hosts: tuple[str, ...] = HOSTS[:2], *, capacity: int = 4
) -> tuple[EndpointPool, Clock]:
    clock = Clock()
    transport = httpx.MockTransport(fleet.handle)
    replicas = [
        Replica(
            f"http://{host}:8000/v1",
            ChatClient.create(
                backend="ocr",
                base_url=f"http://{host}:8000/v1",
                timeout_s=30,
                connect_timeout_s=5,
                max_connections=capacity + 1,
                transport=transport,
            ),
            capacity,
        )
        for host in hosts
    ]
    pool = EndpointPool(
        "ocr",
        replicas,
        probe_interval_s=INTERVAL,
        probe_timeout_s=1,
        clock=clock,
        probe_in_background=False,  # the test calls probe_due as its clock moves
    )
    return pool, clock


def run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_closing(factory))


async def _closing(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def host_of(result: ChatResult) -> str:
    return httpx.URL(result.replica).host


# ----------------------------------------------------------------- the choice


def test_the_least_loaded_replica_is_chosen() -> None:
    pool, _ = make_pool(Fleet(), HOSTS)
    first, second, third = pool.replicas
    first.outstanding, second.outstanding, third.outstanding = 3, 1, 2
    assert pool.choose() is second


def test_ties_go_to_the_replica_that_answered_fastest_lately() -> None:
    pool, _ = make_pool(Fleet(), HOSTS)
    first, second, third = pool.replicas
    first.record_latency(2.0)
    second.record_latency(0.5)
    third.record_latency(1.0)
    assert pool.choose() is second
    second.outstanding = 1  # load first, latency second
    assert pool.choose() is third


def test_the_running_latency_follows_recent_answers() -> None:
    pool, _ = make_pool(Fleet())
    replica = pool.replicas[0]
    replica.record_latency(1.0)
    for _ in range(20):
        replica.record_latency(3.0)
    assert replica.latency_s is not None and 2.9 < replica.latency_s <= 3.0


def test_full_and_ejected_replicas_are_not_chosen() -> None:
    pool, _ = make_pool(Fleet(), HOSTS, capacity=2)
    first, second, third = pool.replicas
    first.outstanding = 2  # full
    pool.eject(second, "test")
    assert pool.choose() is third
    third.outstanding = 2
    assert pool.choose() is None


def test_concurrent_requests_spread_over_the_replicas() -> None:
    fleet = Fleet()
    pool, _ = make_pool(fleet, HOSTS)

    async def scenario() -> list[ChatResult]:
        try:
            return await asyncio.gather(*(pool.call(BODY) for _ in range(12)))
        finally:
            await pool.aclose()

    results = run(scenario)
    assert Counter(host_of(r) for r in results) == dict.fromkeys(HOSTS, 4)
    assert all(r.outstanding == 0 for r in pool.replicas)
    assert [r.served for r in pool.replicas] == [4, 4, 4]


def test_requests_wait_for_room_instead_of_overfilling_a_replica() -> None:
    fleet = Fleet()
    pool, _ = make_pool(fleet, HOSTS[:2], capacity=1)
    fleet.chat = dict.fromkeys(HOSTS, "hang")

    async def scenario() -> None:
        tasks = [asyncio.create_task(pool.call(BODY)) for _ in range(3)]
        while sum(fleet.arrived.values()) < 2:
            await asyncio.sleep(0)
        for _ in range(10):
            await asyncio.sleep(0)
        assert sum(fleet.arrived.values()) == 2  # the third waits for a slot
        assert [r.outstanding for r in pool.replicas] == [1, 1]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert [r.outstanding for r in pool.replicas] == [0, 0]
        await pool.aclose()

    run(scenario)


# ----------------------------------------------------------------- losing a replica


def test_a_refused_connection_ejects_the_replica_and_moves_the_request_at_once() -> None:
    fleet = Fleet()
    pool, _ = make_pool(fleet)
    fleet.chat["gpu1.invalid"] = "refuse"
    moves: list[str] = []

    async def scenario() -> ChatResult:
        try:
            return await pool.call(BODY, moves.append)
        finally:
            await pool.aclose()

    result = run(scenario)
    assert host_of(result) == "gpu2.invalid"
    first = pool.replicas[0]
    assert first.ejected and first.reason == "refuses connections" and first.ejections == 1
    assert len(moves) == 1 and "gpu1.invalid" in moves[0]


@pytest.mark.parametrize("mode", ["drop"])
def test_a_dropped_request_moves_to_another_replica_and_the_replica_is_probed_now(
    mode: str,
) -> None:
    fleet = Fleet()
    pool, clock = make_pool(fleet)
    fleet.chat["gpu1.invalid"] = mode
    first = pool.replicas[0]
    first.next_probe_at = clock.now + 60

    async def scenario() -> ChatResult:
        try:
            return await pool.call(BODY)
        finally:
            await pool.aclose()

    result = run(scenario)
    assert host_of(result) == "gpu2.invalid"
    assert not first.ejected  # a dropped connection may be a passing fault: the probe decides
    assert first.next_probe_at <= clock.now


@pytest.mark.parametrize(
    ("mode", "error"), [("timeout", BackendTimeout), ("500", BackendServerError)]
)
def test_timeouts_and_server_errors_go_to_the_retry_policy_and_prompt_a_probe(
    mode: str, error: type[Exception]
) -> None:
    fleet = Fleet()
    pool, clock = make_pool(fleet)
    fleet.chat["gpu1.invalid"] = mode
    first = pool.replicas[0]
    first.next_probe_at = clock.now + 60

    async def scenario() -> None:
        try:
            await pool.call(BODY)
        finally:
            await pool.aclose()

    with pytest.raises(error):
        run(scenario)
    assert not first.ejected and first.next_probe_at <= clock.now
    assert fleet.arrived["gpu2.invalid"] == 0  # the request's own failure is not moved


def test_ejecting_a_replica_moves_its_requests_in_flight_at_once() -> None:
    """A hung replica's pages do not wait out their timeouts: ejection re-sends them."""
    fleet = Fleet()
    pool, _ = make_pool(fleet)
    fleet.chat["gpu1.invalid"] = "hang"
    moves: list[str] = []

    async def scenario() -> ChatResult:
        call = asyncio.create_task(pool.call(BODY, moves.append))
        await fleet.hung.wait()
        pool.eject(pool.replicas[0], "/health gave no answer within 1 s")
        try:
            return await asyncio.wait_for(call, 30)  # a guard against hanging, not a timing
        finally:
            await pool.aclose()

    result = run(scenario)
    assert host_of(result) == "gpu2.invalid"
    assert fleet.cancelled["gpu1.invalid"] == 1
    assert "ejected mid-request" in moves[0] and "/health gave no answer" in moves[0]


def test_cancelling_the_caller_is_not_taken_for_an_ejection() -> None:
    fleet = Fleet()
    pool, _ = make_pool(fleet)
    fleet.chat = dict.fromkeys(HOSTS, "hang")

    async def scenario() -> None:
        call = asyncio.create_task(pool.call(BODY))
        await fleet.hung.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert sum(fleet.arrived.values()) == 1  # not re-sent elsewhere
        assert all(r.outstanding == 0 and not r.running for r in pool.replicas)
        await pool.aclose()

    run(scenario)


def test_when_every_replica_is_ejected_the_request_fails_as_a_refused_connection() -> None:
    fleet = Fleet()
    pool, _ = make_pool(fleet)
    fleet.chat = dict.fromkeys(HOSTS, "refuse")

    async def scenario() -> None:
        try:
            await pool.call(BODY)
        finally:
            await pool.aclose()

    with pytest.raises(BackendConnectError, match=r"gpu2\.invalid"):
        run(scenario)
    assert all(r.ejected for r in pool.replicas)

    async def again() -> None:
        try:
            await pool.call(BODY)
        finally:
            await pool.aclose()

    with pytest.raises(BackendConnectError, match="every replica is ejected"):
        run(again)
    assert sum(fleet.arrived.values()) == 2  # the second request sent nothing


@pytest.mark.parametrize("mode", ["refuse", "drop"])
def test_a_single_server_is_never_ejected(mode: str) -> None:
    """With one URL the pool is a plain client: the retry policy and the chain's breaker rule."""
    fleet = Fleet()
    pool, _ = make_pool(fleet, HOSTS[:1])
    fleet.chat["gpu1.invalid"] = mode

    async def scenario() -> None:
        try:
            await pool.call(BODY)
        finally:
            await pool.aclose()

    with pytest.raises(BackendUnavailable):
        run(scenario)
    assert not pool.replicas[0].ejected
    assert fleet.probed["gpu1.invalid"] == 0


# ----------------------------------------------------------------- probes, ejection, re-admission


def test_a_refused_probe_ejects_at_once() -> None:
    fleet = Fleet()
    pool, _ = make_pool(fleet)
    fleet.health["gpu1.invalid"] = "refuse"

    outcomes = run(pool.probe_due)
    assert [o.alive for o in outcomes] == [False, True]
    assert pool.replicas[0].ejected and pool.replicas[0].reason == "refuses connections"
    assert not pool.replicas[1].ejected


@pytest.mark.parametrize(
    ("health", "reason"),
    [
        (503, "/health answered HTTP 503"),
        ("timeout", "/health gave no answer within 1 s"),
        ("drop", "/health dropped the connection"),
    ],
)
def test_failed_probes_eject_only_when_they_repeat(health: Any, reason: str) -> None:
    fleet = Fleet()
    pool, clock = make_pool(fleet)
    first = pool.replicas[0]
    fleet.health["gpu1.invalid"] = health
    for probe in range(1, PROBE_FAILURES_TO_EJECT + 1):
        assert not first.ejected
        run(pool.probe_due)
        assert first.probe_failures == (probe if probe < PROBE_FAILURES_TO_EJECT else 0)
        clock.now += INTERVAL
    assert first.ejected and first.reason == reason


def test_a_good_probe_between_bad_ones_resets_the_count() -> None:
    fleet = Fleet()
    pool, clock = make_pool(fleet)
    first = pool.replicas[0]
    for health in [503, 200, 503]:
        fleet.health["gpu1.invalid"] = health
        run(pool.probe_due)
        clock.now += INTERVAL
    assert not first.ejected and first.probe_failures == 1


def test_a_replica_answering_pages_is_not_ejected_for_slow_probes() -> None:
    """A busy server may be slow to answer /health; a page it answers in between proves it alive."""
    fleet = Fleet()
    pool, clock = make_pool(fleet)
    first = pool.replicas[0]
    fleet.health["gpu1.invalid"] = "timeout"
    run(pool.probe_due)
    assert first.probe_failures == 1

    async def one_page() -> ChatResult:
        return await pool.call(BODY)

    assert host_of(run(one_page)) == "gpu1.invalid"
    clock.now += INTERVAL
    run(pool.probe_due)
    assert not first.ejected and first.probe_failures == 1


@pytest.mark.parametrize("alive", [200, 404])
def test_an_ejected_replica_is_reprobed_on_schedule_and_readmitted(alive: int) -> None:
    """404: a server without /health (LM Studio, Ollama) answered, so it is alive."""
    fleet = Fleet()
    pool, clock = make_pool(fleet)
    first = pool.replicas[0]
    fleet.health["gpu1.invalid"] = "refuse"
    run(pool.probe_due)
    assert first.ejected
    probes = fleet.probed["gpu1.invalid"]

    clock.now += INTERVAL / 2
    run(pool.probe_due)  # not due yet
    assert fleet.probed["gpu1.invalid"] == probes

    clock.now += INTERVAL / 2
    run(pool.probe_due)  # due, still refusing
    assert first.ejected and fleet.probed["gpu1.invalid"] == probes + 1

    fleet.health["gpu1.invalid"] = alive
    clock.now += INTERVAL
    run(pool.probe_due)
    assert not first.ejected and first.ejections == 1

    async def scenario() -> list[ChatResult]:
        try:
            return await asyncio.gather(pool.call(BODY), pool.call(BODY))
        finally:
            await pool.aclose()

    assert sorted(host_of(r) for r in run(scenario)) == ["gpu1.invalid", "gpu2.invalid"]


def test_readmission_forgets_the_old_latency() -> None:
    pool, _ = make_pool(Fleet())
    first = pool.replicas[0]
    first.record_latency(9.0)
    pool.eject(first, "test")
    pool.readmit(first)
    assert first.latency_s is None


def test_the_primary_is_the_first_live_replica() -> None:
    pool, _ = make_pool(Fleet(), HOSTS)
    assert pool.primary is pool.replicas[0]
    pool.eject(pool.replicas[0], "test")
    assert pool.primary is pool.replicas[1]
    for replica in pool.replicas:
        pool.eject(replica, "test")
    assert pool.primary is pool.replicas[0]


def test_snapshot_reports_state_load_and_speed_without_credentials() -> None:
    fleet = Fleet()
    clock = Clock()
    client = ChatClient.create(
        backend="ocr",
        base_url="https://user:secret@gpu1.invalid:8000/v1",
        timeout_s=30,
        connect_timeout_s=5,
        max_connections=2,
        transport=httpx.MockTransport(fleet.handle),
    )
    pool = EndpointPool("ocr", [Replica(client.base_url, client, 1)], clock=clock)
    pool.replicas[0].record_latency(0.25)
    (entry,) = pool.snapshot()
    assert entry["url"] == "https://gpu1.invalid:8000/v1"
    assert entry["state"] == "live" and entry["latency_s"] == 0.25
    assert "secret" not in str(entry)


def test_a_pool_needs_a_replica() -> None:
    with pytest.raises(ValueError):
        EndpointPool("ocr", [])


# ----------------------------------------------------------------- a shared budget


class _Budget:
    """A shared budget's stand-in: grants at once, says a limit, records what comes back."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.back: list[tuple[str, int | None]] = []

    async def take(self, backend: str, replicas: Sequence[str]) -> tuple[str, object]:
        return replicas[0], len(self.back)

    def give_back(
        self, lease: object, latency_s: float | None, outcome: str, tokens: int | None = None
    ) -> None:
        self.back.append((outcome, tokens))

    def granted(self, backend: str, replica: str) -> int | None:
        return self.limit


def test_a_shared_budget_replaces_the_replicas_own_controller_and_hears_every_outcome() -> None:
    fleet = Fleet()
    pool, _ = make_pool(fleet, HOSTS[:1], capacity=256)
    (replica,) = pool.replicas
    replica.limit = AdaptiveLimit(ceiling=256)
    budget = _Budget(limit=3)
    pool.use_budget(budget)
    assert replica.limit is None and not pool.adaptive  # no controller, no poller here
    assert (replica.capacity, replica.bound) == (3, 256)  # what the budget grants; the ceiling

    async def scenario() -> None:
        await pool.call(BODY)
        budget.limit = 5  # the budget's controller grew the limit
        for mode, error in (("timeout", BackendTimeout), ("500", BackendServerError)):
            fleet.chat[HOSTS[0]] = mode
            with pytest.raises(error):
                await pool.call(BODY)
        await pool.aclose()

    run(scenario)
    assert budget.back == [("ok", None), ("timeout", None), ("failed", None)]
    assert replica.capacity == 5
