"""``python -m docling_hybrid_cli.sim``: the simulated server as a process of its own.

The benchmark runs the server this way so that server and client never share a GIL. It prints
one line, ``mock server listening on URL``, once the port accepts connections (after
``--start-delay``), and exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from docling_hybrid_cli.sim.config import MockConfig
from docling_hybrid_cli.sim.server import MockServer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    defaults = MockConfig()
    parser = argparse.ArgumentParser(
        prog="python -m docling_hybrid_cli.sim",
        description="Simulated OpenAI-compatible vision server (vLLM / DeepSeek-OCR shaped).",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8000, help="0 picks a free port")
    add("--model", default=defaults.model)
    add("--max-model-len", type=int, default=defaults.max_model_len)
    add("--style", choices=("deepseek", "plain"), default=defaults.style)
    add("--latency", type=float, default=0.0, help="seconds per chat answer")
    add("--per-token", type=float, default=0.0, help="extra seconds per output token")
    add("--jitter", type=float, default=0.0, help="relative +/- jitter on the latency")
    add("--fail-rate", type=float, default=0.0, help="fraction of chat requests given a fault")
    add("--faults", default=",".join(defaults.faults), help="comma-separated fault kinds")
    add("--seed", type=int, default=0)
    add("--api-key", default=None)
    add("--start-delay", type=float, default=0.0, help="seconds before the port listens")
    add("--retry-after", type=float, default=None, help="Retry-After seconds on 429/503")
    add("--timeout-fault", type=float, default=defaults.timeout_fault_s)
    add("--hostile-mb", type=float, default=defaults.hostile_mb, help="oversized/gzip-bomb MiB")
    add("--drip", type=float, default=defaults.drip_s, help="seconds between drip-fed bytes")
    add(
        "--no-ngram-processor",
        dest="ngram_processor",
        action="store_false",
        help="act as a vLLM started without DeepSeek's n-gram logits processor "
        "(vllm_xargs silently ignored)",
    )
    add("--warmup", type=float, default=0.0, help="seconds of 503 from /health and chat once up")
    add("--cost", type=float, default=None, help="usage.cost (USD) on every answer, as OpenRouter")
    add("--empty-for-blank", action="store_true", help='answer blank images with "" (stop)')
    add("--loop-period", type=int, default=None, help="every page loops with this period")
    add("--loop-escape-temperature", type=float, default=None, help="temperature that escapes")
    add(
        "--max-num-seqs",
        type=int,
        default=None,
        help="answers decoded at once (vLLM's cap): with --latency, a GPU of this capacity "
        "(further requests queue; /metrics shows running and waiting)",
    )
    add("--no-metrics", dest="metrics", action="store_false", help="answer 404 at /metrics")
    add("--reference-pdf", default=None, help="answer with this PDF's text for the page shown")
    add(
        "--invent-pages", default="", help="with --reference-pdf: pages answered with invented text"
    )
    add("--halve-pages", default="", help="with --reference-pdf: pages answered half")
    return parser


def _page_numbers(text: str) -> tuple[int, ...]:
    """``"2,4"`` -> ``(2, 4)``; a ValueError names a part that is not a page number."""
    numbers = tuple(int(part) for part in text.split(",") if part.strip())
    if any(n < 1 for n in numbers):
        raise ValueError(f"page numbers start at 1: {text!r}")
    return numbers


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, after printing ``mock server listening on URL``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = MockConfig(
            model=args.model,
            max_model_len=args.max_model_len,
            style=args.style,
            latency_s=args.latency,
            per_token_s=args.per_token,
            jitter=args.jitter,
            fail_rate=args.fail_rate,
            faults=tuple(kind for kind in args.faults.split(",") if kind),
            seed=args.seed,
            api_key=args.api_key,
            start_delay_s=args.start_delay,
            retry_after_s=args.retry_after,
            timeout_fault_s=args.timeout_fault,
            hostile_mb=args.hostile_mb,
            drip_s=args.drip,
            ngram_processor=args.ngram_processor,
            warmup_s=args.warmup,
            cost_per_request=args.cost,
            empty_for_blank=args.empty_for_blank,
            loop_period=args.loop_period,
            loop_escape_temperature=args.loop_escape_temperature,
            max_num_seqs=args.max_num_seqs,
            metrics=args.metrics,
            reference_pdf=args.reference_pdf,
            invent_pages=_page_numbers(args.invent_pages),
            halve_pages=_page_numbers(args.halve_pages),
        )
    except ValueError as exc:
        parser.error(str(exc))
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server = MockServer(config, host=args.host, port=args.port)
    except ValueError as exc:
        parser.exit(2, f"mock server: {exc}\n")
    try:
        server = server.start()
    except OSError as exc:
        parser.exit(1, f"mock server: cannot listen on {args.host}:{args.port}: {exc}\n")
    try:
        while not server.wait_listening(timeout=0.1):
            if stop_requested.is_set():
                return
        print(f"mock server listening on {server.url}", flush=True)
        stop_requested.wait()
    finally:
        server.stop()
