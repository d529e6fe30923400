"""Endpoint pools: what two replicas gain, and what losing one mid-run costs.

Usage (from the repo root):
    .venv/bin/python scripts/bench_replica_failover.py [--pages 200] [--latency 0.5]
        [--seqs 8] [--after 0.25] [--runs 1]

Each scenario starts fresh simulated servers (own processes) that decode at
most ``--seqs`` answers at once (vLLM's ``--max-num-seqs``), so one replica
tops out at seqs / latency pages/s, and converts a generated PDF through the
real pipeline with ``max_concurrency = seqs`` per replica and
``convert.concurrency = 2 x seqs``:

* ``one``: a single replica (the capacity of one GPU);
* ``two``: two replicas in one pool;
* ``kill``: two replicas; the second gets SIGKILL once ``--after`` of the pages
  are done (connections reset, then refused);
* ``hang``: two replicas; the second gets SIGSTOP at the same point (connections
  stay open and nothing answers: a wedged GPU). Only the health probes can
  tell; without them its pages would wait out the 600 s timeout.

Printed per scenario: wall time, pages converted/failed, pages that needed
more than one attempt, the slowest page, and each replica's share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import tempfile
from pathlib import Path
from typing import Any

from docling_hybrid_cli.batch import convert_batch
from docling_hybrid_cli.bench import start_sim_server
from docling_hybrid_cli.jobs import plan_jobs
from docling_hybrid_cli.pages import PageResult
from docling_hybrid_cli.samplepdf import write_benchmark_pdf
from docling_hybrid_cli.settings import load_settings

SCENARIOS = ("one", "two", "kill", "hang")


class Trigger:
    """A ConvertObserver that signals a server process once enough pages are done."""

    def __init__(self, pid: int | None, sig: signal.Signals, after: int) -> None:
        self.pid, self.sig, self.after = pid, sig, after
        self.done = 0

    def document_started(self, job: object, pages: object) -> None: ...

    def page_state(self, job: object, page: int, state: str, detail: str = "") -> None: ...

    def page_finished(self, job: object, result: PageResult) -> None:
        self.done += 1
        if self.pid is not None and self.done == self.after:
            os.kill(self.pid, self.sig)

    def document_finished(self, result: object) -> None: ...

    def notice(self, message: str) -> None: ...


def run(scenario: str, pdf: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    replicas = 1 if scenario == "one" else 2
    with contextlib.ExitStack() as stack:
        sims = [
            stack.enter_context(
                start_sim_server(
                    latency_s=args.latency,
                    jitter=0.1,
                    style="plain",
                    seed=i,
                    extra_args=["--max-num-seqs", str(args.seqs)],
                )
            )
            for i in range(replicas)
        ]
        victim = sims[-1].process if scenario in ("kill", "hang") else None
        if victim is not None and scenario == "hang":
            stack.callback(lambda: os.kill(victim.pid, signal.SIGCONT))
        overrides = {
            "backends.fallback_chain": ["deepseek-vllm"],
            "backends.deepseek-vllm.base_url": [s.api_root for s in sims],
            "backends.deepseek-vllm.max_concurrency": args.seqs,
            "convert.concurrency": args.seqs * 2,
        }
        settings = load_settings(overrides=overrides).settings
        sig = signal.SIGKILL if scenario == "kill" else signal.SIGSTOP
        trigger = Trigger(victim.pid if victim else None, sig, max(1, int(args.pages * args.after)))
        loop_started = asyncio.run(_timed(plan_jobs([pdf], output=out), settings, trigger))
    batch, wall = loop_started
    (document,) = batch.documents
    shares: dict[str, int] = {}
    for page in document.converted:
        if page.text is not None:
            shares[page.text.replica] = shares.get(page.text.replica, 0) + 1
    return {
        "wall": wall,
        "converted": len(document.converted),
        "failed": len(document.failed),
        "retried": sum(1 for p in document.pages if p.attempts > 1),
        "slowest": max(p.latency_s for p in document.pages),
        "shares": sorted(shares.values(), reverse=True),
    }


async def _timed(jobs: Any, settings: Any, observer: Trigger) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    batch = await convert_batch(jobs, settings, observer, use_cache=False)
    return batch, loop.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--seqs", type=int, default=8)
    parser.add_argument("--after", type=float, default=0.25)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pdf = write_benchmark_pdf(Path(tmp) / "doc.pdf", args.pages)
        for scenario in args.scenarios.split(","):
            results = [
                run(scenario, pdf, Path(tmp) / f"{scenario}.md", args) for _ in range(args.runs)
            ]
            walls = [r["wall"] for r in results]
            last = results[-1]
            print(
                f"{scenario:5} wall {statistics.median(walls):6.2f} s (runs: "
                f"{', '.join(f'{w:.2f}' for w in walls)})  {last['converted']}/{args.pages} "
                f"converted, {last['failed']} failed, {last['retried']} retried, slowest page "
                f"{last['slowest']:.2f} s, shares {last['shares']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
