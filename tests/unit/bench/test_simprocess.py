"""The simulated server in its own process, and the benchmark's counted side requests."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.bench import start_sim_server
from docling_hybrid_cli.bench.sidechannel import SideChannel
from docling_hybrid_cli.errors import SimulatedServerError


def test_sim_server_starts_answers_and_counts_side_requests() -> None:
    with start_sim_server(style="plain") as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        assert sim.api_root == f"{sim.url}/v1"
        before = sim.http.requests
        stats = sim.stats()
        assert stats is not None and "connections_opened" in stats
        assert sim.http.requests == before + 1
        assert sim.http.get_text(f"{sim.url}/no-such-path") is None
        process = sim.process
    assert process.poll() is not None  # stopped on leaving the block


def test_a_server_that_cannot_start_is_one_of_our_errors() -> None:
    starting = start_sim_server(extra_args=["--no-such-flag"])
    with pytest.raises(SimulatedServerError, match="did not start"):
        starting.__enter__()


def test_side_channel_counts_unreachable_hosts_too() -> None:
    http = SideChannel()
    assert http.get_text("http://unreachable.invalid/metrics", timeout_s=0.5) is None
    assert http.requests == 1
