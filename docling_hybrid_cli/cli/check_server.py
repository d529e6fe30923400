"""``docling-hybrid-ocr check-server``: is a backend up and ready to convert?

Thin layer over :mod:`docling_hybrid_cli.health`: pick the backends, show a
spinner while ``--wait`` polls, print each verdict (a few lines for one
backend, a table for ``--all``, or JSON), and exit 0 only when every checked
backend is ready.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import EXIT_OK, EXIT_PAGES_FAILED, EXIT_USAGE, UsageError
from ..keyguard import public_url

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from ..health import HealthReport, KeyInfo

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("check-server")(check_server)


def check_server(
    ctx: typer.Context,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            "-b",
            help="Backend to check (default: backends.default).",
            show_default=False,
        ),
    ] = None,
    all_backends: Annotated[
        bool, typer.Option("--all", help="Check every backend of the fallback chain.")
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="API root to check instead of the configured one."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model name to expect instead of the configured one."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            metavar="SECONDS",
            help="Poll a server that is still loading (or warming up: 503) for up to SECONDS "
            "before checking it.",
        ),
    ] = 0.0,
    probe: Annotated[
        bool, typer.Option("--probe", help="Also send one rendered page and time the answer.")
    ] = False,
    probe_pdf: Annotated[
        Path | None,
        typer.Option(
            "--probe-pdf",
            dir_okay=False,
            help="Probe with page 1 of this PDF (implies --probe; default: a generated page).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Check that OCR backends are reachable, serve the configured model and accept the key.

    Exit codes: 0 every checked backend is ready; 1 at least one is not (each
    says why and what to do); 2 bad config or flags.
    """
    import asyncio

    from ..health import check_backends, render_probe_page
    from ..settings import load_settings
    from .console import stderr_is_tty

    if backend is not None and all_backends:
        raise UsageError("--backend and --all cannot be combined")
    if all_backends and (base_url is not None or model is not None):
        raise UsageError("--base-url and --model apply to one backend; drop --all")
    settings = load_settings(config_file=ctx.obj["config"]).settings
    if all_backends:
        names = list(dict.fromkeys(settings.backends.fallback_chain))
    else:
        names = [backend or settings.backends.default]
    for name in names:
        settings.backend(name)
    if base_url is not None or model is not None:
        # Same flags, same meaning as `convert --base-url/--model`: the layers are
        # resolved again with the flags on top, so the URL is validated and normalised.
        overrides = {
            f"backends.{names[0]}.{key}": value
            for key, value in (("base_url", base_url), ("model", model))
            if value is not None
        }
        settings = load_settings(config_file=ctx.obj["config"], overrides=overrides).settings

    probe_page = None
    if probe or probe_pdf is not None:
        probe_page = asyncio.run(render_probe_page(probe_pdf, settings.convert))

    display = _WaitDisplay(tty=stderr_is_tty()) if wait > 0 else None
    try:
        reports = asyncio.run(
            check_backends(
                settings,
                names,
                wait_s=wait,
                tick=display.tick if display is not None else None,
                probe_page=probe_page,
            )
        )
    finally:
        if display is not None:
            display.close()

    if json_out:
        _print_json(reports)
    elif all_backends:
        _print_table(reports)
    else:
        _print_one(reports[0])
    if not all_backends and reports[0].refused_config:
        raise typer.Exit(EXIT_USAGE)  # the one backend asked for is misconfigured: a usage error
    raise typer.Exit(EXIT_OK if all(r.ready for r in reports) else EXIT_PAGES_FAILED)


class _WaitDisplay:
    """While ``--wait`` polls: a spinner with elapsed time on a TTY, dots on stderr otherwise."""

    def __init__(self, *, tty: bool) -> None:
        self._tasks: dict[str, TaskID] = {}
        self._progress: Progress | None = None
        self._dotted: set[str] = set()
        if tty:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()

    def tick(self, name: str, elapsed: float) -> None:
        if self._progress is not None:
            if name not in self._tasks:
                text = f"waiting for {name} to come up"
                self._tasks[name] = self._progress.add_task(text, total=None)
            return
        if name not in self._dotted:
            self._dotted.add(name)
            sys.stderr.write(f"waiting for {name} to come up ")
        sys.stderr.write(".")
        sys.stderr.flush()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self._dotted:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _console() -> Console:
    """Stdout console; piped output gets a wide page so a table is not folded to 80 columns."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console


def _clean(text: str) -> str:
    from ..redact import redact

    return redact(text)


def _line(console: Console, text: str, style: str = "") -> None:
    from rich.text import Text

    console.print(Text(_clean(text), style=style))


def _headline(report: HealthReport) -> str:
    title = report.title or report.kind
    where = f" at {public_url(report.url)}" if report.url else ""
    if report.ready:
        return f"✓ {title} {report.ready_phrase}{where}"
    return f"✗ {title} is not ready{where}"


def _details(report: HealthReport) -> list[str]:
    """The facts behind a verdict, one per line, in the order a reader checks them."""
    lines = [f"Backend: {report.backend} (kind {report.kind})"]
    if report.reason:
        lines.append(f"Reason: {report.reason}")
    if report.model:
        lines.append(f"Model: {report.model}")
    if report.served_models and report.model not in report.served_models:
        lines.append(f"Served: {', '.join(report.served_models)}")
    if report.max_model_len is not None or report.fitted_max_tokens is not None:
        parts = []
        if report.max_model_len is not None:
            parts.append(f"max_model_len {report.max_model_len}")
        if report.image_tokens is not None:
            parts.append(f"{report.image_tokens} image tokens per page")
        if report.fitted_max_tokens is not None:
            parts.append(f"max_tokens {report.max_tokens} -> {report.fitted_max_tokens}")
        lines.append("Context: " + ", ".join(parts))
    if report.ngram_guard is not None:
        state = "active" if report.ngram_guard else "MISSING (vLLM ignores it)"
        lines.append(f"Repetition guard: {state}")
    if report.key is not None:
        lines.append(_key_line(report.key))
        daily = report.key.free_model_daily_requests
        if daily:
            lines.append(
                f"Free-model requests today: {daily.get('used')}/{daily.get('limit')} "
                f"({daily.get('remaining')} left)"
            )
        if report.key.usage is not None or report.key.limit is not None:
            limit = "none" if report.key.limit is None else f"{report.key.limit:g}"
            usage = 0.0 if report.key.usage is None else report.key.usage
            lines.append(f"Credits: {usage:g} used, limit {limit}")
    if report.latency_ms is not None:
        lines.append(f"Latency: {report.latency_ms:.1f} ms")
    if report.waited_s:
        lines.append(f"Waited: {report.waited_s:.1f} s")
    if report.probe is not None:
        probe = report.probe
        if probe.ok:
            tokens = f", {probe.completion_tokens} tokens" if probe.completion_tokens else ""
            lines.append(f"Probe: 1 page in {probe.seconds:.2f} s ({probe.chars} chars{tokens})")
        else:
            lines.append(f"Probe: failed after {probe.seconds:.2f} s")
    lines.extend(f"Note: {note}" for note in report.notes)
    return lines


def _key_line(key: KeyInfo) -> str:
    state = "set" if key.present else "not set"
    if key.accepted is True:
        state += ", accepted"
    elif key.accepted is False:
        state += ", rejected"
    label = f" (label {key.label})" if key.label else ""
    return f"Key: {key.env_var} {state}{label}"


def _print_one(report: HealthReport) -> None:
    console = _console()
    _line(console, _headline(report), "bold green" if report.ready else "bold red")
    for line in _details(report):
        _line(console, f"  {line}")
    for warning in report.warnings:
        _line(console, f"  Warning: {warning}", "yellow")
    status = "Ready" if report.ready else f"Not ready ({report.state})"
    _line(console, f"  Status: {status}", "green" if report.ready else "red")
    if report.hint:
        _line(console, f"  Fix: {report.hint}", "bold")


def _print_table(reports: list[HealthReport]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    table = Table(title="Backends (in fallback order)", title_justify="left")
    for column in ("Backend", "Kind", "Status", "Model", "URL", "Latency", "Detail"):
        table.add_column(column, overflow="fold")
    for r in reports:
        status = Text("✓ ready", style="green") if r.ready else Text(f"✗ {r.state}", style="red")
        latency = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else ""
        detail = r.reason or "; ".join([*r.warnings, *r.notes])
        table.add_row(
            r.backend,
            r.kind,
            status,
            Text(_clean(r.model)),
            Text(_clean(public_url(r.url) if r.url else "")),
            latency,
            Text(_clean(detail)),
        )
    console.print(table)
    for r in reports:
        if not r.ready:
            _line(console, f"✗ {r.backend}: {r.reason}", "red")
            if r.hint:
                _line(console, f"  Fix: {r.hint}", "bold")
    ready = sum(r.ready for r in reports)
    _line(console, f"{ready} of {len(reports)} backends ready")


def _print_json(reports: list[HealthReport]) -> None:
    payload: dict[str, Any] = {
        "ready": all(r.ready for r in reports),
        "backends": [r.to_dict() for r in reports],
    }
    sys.stdout.write(
        _clean(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False)) + "\n"
    )
