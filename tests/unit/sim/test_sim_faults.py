"""Faults are drawn from the injected queue first, then from a seeded RNG."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sim_support import CHAT, chat_body

from docling_hybrid_cli.sim import FAULT_KINDS, MockConfig, MockServer
from docling_hybrid_cli.sim.faults import FaultSource


def test_injected_faults_are_used_in_order_before_random_ones(
    server: MockServer, client: httpx.Client
) -> None:
    """The injected queue is consumed first, in order, one fault per chat request."""
    server.inject("503", "429")
    statuses = [client.post(CHAT, json=chat_body(None)).status_code for _ in range(3)]
    assert statuses == [503, 429, 200]


def test_unknown_fault_kinds_are_rejected(server: MockServer) -> None:
    """A typo in a fault name fails loudly instead of never firing."""
    with pytest.raises(ValueError, match="unknown fault kinds"):
        server.inject("418")
    with pytest.raises(ValueError, match="unknown fault kinds"):
        MockConfig(faults=("500", "teapot"))


def test_fail_rate_is_reproducible_with_a_seed(make_server: Callable[..., MockServer]) -> None:
    """Two servers with the same seed fail the same sequential requests the same way."""
    outcomes: list[list[tuple[int, str | None]]] = []
    for _ in range(2):
        server = make_server(fail_rate=0.5, faults=("500", "429", "empty"), seed=7)
        with httpx.Client(base_url=server.url) as http:
            for _ in range(20):
                http.post(CHAT, json=chat_body(None))
        outcomes.append([(r.status or 0, r.fault) for r in server.stats.requests])
    assert outcomes[0] == outcomes[1]
    faults = {fault for _, fault in outcomes[0]}
    assert None in faults
    assert len(faults) > 1


def test_queued_faults_come_before_random_ones() -> None:
    """With fail_rate 0 only the queue fires; once it is empty, draws are None."""
    source = FaultSource(0.0, ("500",), seed=0)
    source.inject("reset", "empty")
    assert [source.draw() for _ in range(4)] == ["reset", "empty", None, None]


def test_random_faults_come_from_the_configured_kinds() -> None:
    """fail_rate 1 fails every request, with kinds from the configured set only."""
    source = FaultSource(1.0, ("429", "503"), seed=5)
    assert {source.draw() for _ in range(50)} == {"429", "503"}


def test_every_fault_kind_is_accepted_by_inject() -> None:
    """FAULT_KINDS is exactly what inject accepts."""
    FaultSource(0.0, (), seed=0).inject(*sorted(FAULT_KINDS))
