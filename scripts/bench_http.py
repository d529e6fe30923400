"""Client-only Little's-law sweep: how close does the HTTP layer get to ``c / latency``?

Usage (from the repo root):
    .venv/bin/python scripts/bench_http.py [--latency 1.0] [--levels 1,8,32,64]
        [--rounds 8] [--clients httpx-default,httpx,aiohttp-transport,aiohttp]

The simulated server (``docling_hybrid_cli.sim``) runs in its own
process with a fixed latency. Each of ``c`` workers sends ``rounds`` prebuilt
chat-completions bodies of a real rendered page (≈ 400 KB) back to back.
Efficiency = achieved req/s ÷ (c / latency). "TCP conns" is how many
connections the server accepted during the level (ideal: exactly c).

Clients:
    httpx-default      httpx.AsyncClient() with httpx's default limits (keep-alive 20)
    httpx              ChatClient.create's pool on httpx's own transport (keep-alive = c)
    aiohttp-transport  ChatClient.create with the aiohttp transport (the project's default)
    aiohttp            a bare aiohttp.ClientSession, as a reference
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from docling_hybrid_cli.bench import (
    efficiency,
    percentile,
    start_sim_server,
)
from docling_hybrid_cli.client import ChatClient, build_chat_body
from docling_hybrid_cli.render import PdfRenderer, RenderOptions
from docling_hybrid_cli.samplepdf import write_benchmark_pdf

Send = Callable[[bytes], Awaitable[None]]


async def _page_body() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        pdf = write_benchmark_pdf(Path(tmp) / "one.pdf", 1)
        async with PdfRenderer(pdf, RenderOptions()) as renderer:
            page = await renderer.render(1)
    return build_chat_body(
        model="deepseek-ai/DeepSeek-OCR",
        page=page,
        prompt="<|grounding|>Convert the document to markdown.",
        params={"max_tokens": 2048, "temperature": 0.0},
    )


async def _make_client(kind: str, url: str, c: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
    headers = {"Content-Type": "application/json"}
    target = f"{url}/v1/chat/completions"
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c))

        async def send_aiohttp(body: bytes) -> None:
            async with session.post(target, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status

        return send_aiohttp, session.close
    if kind == "httpx-default":
        import httpx

        http = httpx.AsyncClient(timeout=60)

        async def send_httpx(body: bytes) -> None:
            response = await http.post(target, content=body, headers=headers)
            assert response.status_code == 200, response.status_code

        return send_httpx, http.aclose
    transport = {"httpx": "httpx", "aiohttp-transport": "aiohttp"}[kind]
    client = ChatClient.create(
        backend="bench",
        base_url=f"{url}/v1",
        timeout_s=60,
        connect_timeout_s=5,
        max_connections=c,
        http_transport=transport,
    )

    async def send_chat(body: bytes) -> None:
        await client.chat(body)

    return send_chat, client.aclose


async def _level(kind: str, url: str, body: bytes, c: int, rounds: int) -> dict[str, Any]:
    send, close = await _make_client(kind, url, c)
    latencies: list[float] = []

    async def worker() -> None:
        for _ in range(rounds):
            started = time.perf_counter()
            await send(body)
            latencies.append(time.perf_counter() - started)

    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(c)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        await close()
    return {
        "wall": wall,
        "cpu_ms_per_req": 1000 * cpu / len(latencies),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "requests": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--rounds", type=int, default=8, help="requests per worker")
    parser.add_argument("--clients", default="httpx-default,httpx,aiohttp-transport,aiohttp")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    clients = args.clients.split(",")
    body = asyncio.run(_page_body())
    print(f"body {len(body) / 1024:.0f} KB, server latency {args.latency} s, {args.rounds} rounds")
    print(
        f"{'client':18} {'c':>3} {'req/s':>7} {'ideal':>6} {'eff':>6} {'p50 s':>6} {'p99 s':>6}"
        f" {'cpu ms/req':>10} {'TCP conns':>9} {'max in flight':>13}"
    )
    rows = []
    with start_sim_server(latency_s=args.latency, style="plain") as mock:
        for c in levels:
            for kind in clients:  # interleaved, so drift hits every client alike
                before = mock.stats() or {}
                result = asyncio.run(_level(kind, mock.url, body, c, args.rounds))
                after = mock.stats() or {}
                # minus 1: the stats request itself opens one connection
                opened = after.get("connections_opened", 0) - before.get("connections_opened", 0)
                conns = opened - 1
                rate = result["requests"] / result["wall"]
                eff, ideal = efficiency(rate, c, args.latency)
                row = {
                    "client": kind,
                    "concurrency": c,
                    "req_per_s": round(rate, 2),
                    "ideal": round(ideal, 2),
                    "efficiency": round(eff, 4),
                    "p50_s": round(result["p50"], 4),
                    "p99_s": round(result["p99"], 4),
                    "cpu_ms_per_req": round(result["cpu_ms_per_req"], 2),
                    "tcp_connections": conns,
                    "server_max_in_flight": after.get("max_in_flight"),
                }
                rows.append(row)
                print(
                    f"{kind:18} {c:3d} {rate:7.2f} {ideal:6.1f} {eff:6.3f} {result['p50']:6.3f}"
                    f" {result['p99']:6.3f} {result['cpu_ms_per_req']:10.2f} {conns:9}"
                    f" {after.get('max_in_flight', '?'):>13}",
                    flush=True,
                )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"client peak RSS {rss:.0f} MiB; python {sys.version.split()[0]}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
