"""The simulated server in its own process, so server and client never share a GIL.

A benchmark measures the client: with the server in-process, its CPU time
would be counted as ours and both would queue on one interpreter lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SimulatedServerError
from .sidechannel import SideChannel

__all__ = ["SimProcess", "start_sim_server"]

_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class SimProcess:
    """A running ``python -m docling_hybrid_cli.sim``: its URL and its counters."""

    url: str
    process: subprocess.Popen[str]
    http: SideChannel = field(default_factory=SideChannel)
    """The benchmark's own GETs to this server, counted apart from the client's."""

    @property
    def api_root(self) -> str:
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any] | None:
        """The server's counters (connections opened, max in flight, ...), if it exposes them."""
        text = self.http.get_text(f"{self.url}/_mock/stats")
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    def reset_stats(self) -> None:
        """Zero the server's counters, so the next run's figures are its own."""
        self.http.post(f"{self.url}/_mock/reset")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def start_sim_server(
    *,
    latency_s: float = 0.0,
    per_token_s: float = 0.0,
    jitter: float = 0.0,
    model: str | None = None,
    style: str = "deepseek",
    seed: int = 0,
    extra_args: Sequence[str] = (),
    startup_timeout_s: float = 20.0,
) -> Iterator[SimProcess]:
    """Start the simulated server on a free loopback port; stop it on exit.

    The URL is read from the server's ``mock server listening on URL`` line,
    which it prints only once the port accepts connections.
    """
    cmd = [
        sys.executable,
        "-m",
        "docling_hybrid_cli.sim",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--latency",
        repr(latency_s),
        "--per-token",
        repr(per_token_s),
        "--jitter",
        repr(jitter),
        "--style",
        style,
        "--seed",
        str(seed),
        *(["--model", model] if model else []),
        *extra_args,
    ]
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    sim: SimProcess | None = None
    try:
        url = _await_listening(process, startup_timeout_s)
        sim = SimProcess(url=url, process=process)
        yield sim
    finally:
        if sim is not None:
            sim.stop()
        else:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _await_listening(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                break
            match = _LISTENING.search(line)
            if match:
                return match.group(1)
    raise SimulatedServerError(
        f"the simulated server did not start within {timeout_s:g} s (exit code {process.poll()})",
        hint="its own error is printed above; try: python -m docling_hybrid_cli.sim --help",
    )
