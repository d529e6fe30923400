"""``docling-hybrid-ocr benchmark``: measured throughput, latency and client cost."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import EXIT_OK, EXIT_PAGES_FAILED

if TYPE_CHECKING:
    from ..bench import BenchReport

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)


def benchmark(
    ctx: typer.Context,
    input_pdf: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="PDF to convert (default: a generated text PDF).", dir_okay=False
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", "-b", help="Benchmark this configured backend's real server."),
    ] = None,
    backends: Annotated[
        str | None,
        typer.Option(
            "--backends",
            help="Comma-separated backends: same pages through each, compared side by side.",
        ),
    ] = None,
    base_url: Annotated[
        list[str] | None,
        typer.Option(
            "--base-url",
            help="API root of the first backend (real server); repeat it for the replicas "
            "of a pool.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model name for the first backend.")
    ] = None,
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", help="Times the input's pages are converted.")
    ] = 1,
    concurrency: Annotated[
        str,
        typer.Option(
            "--concurrency",
            "-j",
            help="Pages in flight; a comma list sweeps; auto: the adaptive controller finds it "
            "(its trace goes in the report).",
        ),
    ] = "8,32",
    pages: Annotated[
        int, typer.Option("--pages", help="Pages of the generated PDF (without --input).")
    ] = 160,
    simulated: Annotated[
        bool | None,
        typer.Option(
            "--simulated/--real",
            help="Against the built-in simulated server (default without --backend/--backends).",
        ),
    ] = None,
    latency: Annotated[
        float,
        typer.Option(
            "--latency", "--seconds-per-page", help="Simulated server: fixed seconds per page."
        ),
    ] = 1.0,
    per_token: Annotated[
        float, typer.Option("--per-token", help="Simulated server: extra seconds per output token.")
    ] = 0.0,
    jitter: Annotated[
        float, typer.Option("--jitter", help="Simulated server: relative +/- jitter (0-1).")
    ] = 0.1,
    replicas: Annotated[
        int,
        typer.Option(
            "--replicas", help="Simulated server: replicas behind the backend (an endpoint pool)."
        ),
    ] = 1,
    max_num_seqs: Annotated[
        int | None,
        typer.Option(
            "--max-num-seqs",
            "--capacity",
            help="Simulated server: answers each replica decodes at once (vLLM's flag); "
            "more wait their turn, their latency growing with the queue (a GPU's capacity).",
        ),
    ] = None,
    sim_metrics: Annotated[
        bool,
        typer.Option(
            "--sim-metrics/--no-sim-metrics",
            help="Simulated server: serve vLLM's /metrics (--no-sim-metrics: 404, so the "
            "adaptive controller has latency alone).",
        ),
    ] = True,
    mock_style: Annotated[
        str | None,
        typer.Option(
            "--mock-style",
            help="Simulated answers: deepseek (tags + a figure to crop per page) or plain.",
        ),
    ] = None,
    quality: Annotated[
        bool,
        typer.Option(
            "--quality",
            help="Also score each backend's pages against --reference/--reference-dir "
            "(or, without them, the PDF's own text layer): edit similarity, word F1, table cells.",
        ),
    ] = False,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Reference Markdown of the whole input, pages split at <!-- page N --> marks.",
            dir_okay=False,
        ),
    ] = None,
    reference_dir: Annotated[
        Path | None,
        typer.Option(
            "--reference-dir",
            help="Directory of reference Markdown, one file per page (page-3.md is page 3).",
            file_okay=False,
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the JSON report here.", dir_okay=False)
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the JSON report on stdout.")
    ] = False,
) -> None:
    """Measure pages/min, latency percentiles, client CPU and efficiency.

    With no options it runs offline: it starts the simulated OpenAI-compatible
    server on 127.0.0.1 (1 s per page, +/-10 %), converts a generated 160-page
    PDF through the real pipeline at concurrency 8 and 32, and prints the
    figures. Name --backend (or --backends) to measure real servers from your
    config. Exit code 1 when any page failed.
    """
    from ..bench import BenchOptions, parse_concurrency, run_benchmark
    from ..errors import ConfigError

    names = [n.strip() for n in (backends or "").split(",") if n.strip()]
    if backend is not None:
        names = [backend, *[n for n in names if n != backend]]
    if pages < 1:
        raise ConfigError(f"--pages must be at least 1, got {pages}")
    if not 0.0 <= jitter <= 1.0:
        raise ConfigError(f"--jitter must be within [0, 1], got {jitter}")
    if mock_style not in (None, "deepseek", "plain"):
        raise ConfigError(f"--mock-style must be deepseek or plain, got {mock_style!r}")
    if latency < 0 or per_token < 0:
        raise ConfigError("--latency and --per-token must not be negative")
    if not 1 <= replicas <= 16:
        raise ConfigError(f"--replicas must be within 1-16, got {replicas}")
    if max_num_seqs is not None and max_num_seqs < 1:
        raise ConfigError(f"--max-num-seqs must be at least 1, got {max_num_seqs}")
    options = BenchOptions(
        input=input_pdf,
        pages=pages,
        iterations=iterations,
        backends=names,
        concurrency=parse_concurrency(concurrency),
        latency_s=latency,
        per_token_s=per_token,
        jitter=jitter,
        simulated=simulated if simulated is not None else not (names or base_url),
        config_file=ctx.obj["config"],
        base_url=base_url or None,
        model=model,
        mock_style=mock_style,
        replicas=replicas,
        max_num_seqs=max_num_seqs,
        sim_metrics=sim_metrics,
        quality=quality or reference is not None or reference_dir is not None,
        reference=reference,
        reference_dir=reference_dir,
    )
    if input_pdf is not None:
        from ..render import count_pdf_pages

        count_pdf_pages(input_pdf)
    result = run_benchmark(options)
    payload = result.to_dict()
    if report is not None:
        from ..output import write_json

        write_json(report, payload)
    _print_table(result)
    if json_out:
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    raise typer.Exit(EXIT_PAGES_FAILED if result.failed_pages else EXIT_OK)


def _print_table(result: BenchReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    server = result.server
    where = (
        f"simulated server, latency {server['latency_s']} s "
        f"+ {server['per_token_s']} s/token, jitter ±{server['jitter'] * 100:.0f} %"
        + (f", {server['replicas']} replicas" if server.get("replicas", 1) > 1 else "")
        if result.simulated
        else "real server(s)"
    )
    table = Table(title=f"benchmark: {result.input['pages']} pages, {where}")
    table.add_column("")
    for run in result.runs:
        table.add_column(f"{run.backend} c={run.concurrency}", justify="right")

    def row(label: str, values: list[str]) -> None:
        table.add_row(label, *values)

    runs = result.runs
    row("pages converted / failed", [f"{r.converted} / {r.failed}" for r in runs])
    row("wall s", [f"{r.wall_s:.2f}" for r in runs])
    row("pages/s  (pages/min)", [f"{r.pages_per_s:.2f}  ({r.pages_per_min:.0f})" for r in runs])
    for key in ("mean", "p50", "p95", "p99"):
        row(f"latency {key} s", [f"{r.latency_s[key]:.3f}" for r in runs])
    row("tokens/s", [f"{r.tokens_per_s:.0f}" for r in runs])
    row(
        "render / encode ms/page",
        [f"{r.render_ms_per_page:.1f} / {r.encode_ms_per_page:.1f}" for r in runs],
    )
    row("KB/page", [f"{r.kb_per_page:.0f}" for r in runs])
    row("retries", [str(r.retries) for r in runs])
    row("client CPU ms/page", [f"{r.client_cpu_s_per_page * 1000:.1f}" for r in runs])
    row("peak RSS MiB", [f"{r.peak_rss_mib:.0f}" for r in runs])
    row(
        "TCP connections opened",
        ["-" if r.connections_opened is None else str(r.connections_opened) for r in runs],
    )
    row("server latency s", [f"{r.server_latency_s:.3f}" for r in runs])
    if any(r.server_in_flight_p50 is not None for r in runs):
        row(
            "server in flight p50 / max",
            [f"{r.server_in_flight_p50} / {r.server_max_in_flight}" for r in runs],
        )
        row("server queue max", [str(r.server_max_waiting) for r in runs])
        row("server latency p95 s", [f"{r.server_latency_p95_s}" for r in runs])
    if any(r.concurrency_trace for r in runs):
        row(
            "adaptive limit at the end",
            [
                " + ".join(
                    str(rep["limit"]) for reps in r.concurrency_trace.values() for rep in reps
                )
                or "-"
                for r in runs
            ],
        )
    row("ideal pages/s", [f"{r.ideal_pages_per_s:.2f}" for r in runs])
    row("efficiency", [f"{r.efficiency:.3f}" for r in runs])
    console.print(table)
    for run in result.runs:
        if run.vllm_metrics:
            metrics = ", ".join(f"{k} {v}" for k, v in run.vllm_metrics.items() if v is not None)
            console.print(f"/metrics {run.backend} c={run.concurrency}: {metrics}")
        for error in run.errors:
            console.print(f"[red]{run.backend} c={run.concurrency}: {error}[/red]")
    for run in result.runs:
        if len(run.replicas) > 1:
            shares = "; ".join(
                f"{r['url']} {r['pages']} pages ({r['pages_per_s']:.2f} pages/s, "
                f"mean {r['latency_mean_s']:.3f} s)"
                for r in run.replicas
            )
            console.print(f"replicas {run.backend} c={run.concurrency}: {shares}")
    if result.quality:
        _print_quality(console, result.quality)
    if result.similarity:
        similarity = result.similarity
        console.print(f"backend similarity ({similarity['metric']}): {similarity['pairs']}")


def _print_quality(console: Any, quality: dict[str, Any]) -> None:
    """Each backend's mean scores side by side, and its weakest pages."""
    from rich.table import Table

    table = Table(title=f"quality against {quality['reference']}")
    table.add_column("backend")
    for label in ("edit similarity", "precision", "recall", "word F1", "table cells F1", "worst"):
        table.add_column(label, justify="right")
    for name, scores in quality["backends"].items():
        mean = scores["mean"]
        worst = sorted(scores["pages"], key=lambda row: row["f1"])[:3]
        table.add_row(
            name,
            *(
                "-" if mean[key] is None else f"{mean[key]:.3f}"
                for key in ("edit_similarity", "precision", "recall", "f1", "table_cells_f1")
            ),
            ", ".join(f"p{row['page']} {row['f1']:.2f}" for row in worst),
        )
    console.print(table)
