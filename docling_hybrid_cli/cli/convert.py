"""``docling-hybrid-ocr convert``: PDF in, Markdown out."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import EXIT_OK, EXIT_PAGES_FAILED, Interrupted

if TYPE_CHECKING:
    from ..pipeline import DocumentResult
    from ..settings import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)


def convert(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="The PDF to convert.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Markdown file to write (default: <input stem>.md beside it)."
        ),
    ] = None,
    pages: Annotated[
        str | None, typer.Option("--pages", "-p", help="Pages to convert, e.g. 1-3,7 or 5-.")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", "-b", help="Use only this backend (no fallback)."),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option("--chain", help="Backends to try in order, comma-separated."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="API root of the first backend.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model name for the first backend.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-j", help="Pages in flight at once.")
    ] = None,
    dpi: Annotated[int | None, typer.Option("--dpi", help="Render resolution.")] = None,
    image_format: Annotated[str | None, typer.Option("--image-format", help="jpeg or png.")] = None,
    separator: Annotated[
        str | None,
        typer.Option("--separator", help="Text between pages; {page} is the next page number."),
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="Password of an encrypted PDF.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a per-page JSON report here.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the run summary as JSON on stdout.")
    ] = False,
) -> None:
    """Convert a PDF to Markdown, page by page, through the backend chain.

    Exit codes: 0 every page converted; 1 some pages failed (their place in
    the Markdown holds a comment saying why); 2 bad input, config or flags;
    130 interrupted.
    """
    from ..chain import build_chain
    from ..pipeline import DocumentJob, convert_document
    from ..render import probe_pdf
    from ..settings import load_settings
    from .console import stderr_is_tty
    from .progress import make_progress

    overrides: dict[str, Any] = {}
    for key, value in (
        ("convert.concurrency", concurrency),
        ("convert.dpi", dpi),
        ("convert.image_format", image_format),
        ("convert.page_separator", separator),
    ):
        if value is not None:
            overrides[key] = value
    if backend is not None:
        overrides["backends.fallback_chain"] = [backend]
    elif chain is not None:
        overrides["backends.fallback_chain"] = chain
    if base_url is not None or model is not None:
        primary = _primary_backend(ctx, overrides)
        if base_url is not None:
            overrides[f"backends.{primary}.base_url"] = base_url
        if model is not None:
            overrides[f"backends.{primary}.model"] = model

    settings = load_settings(config_file=ctx.obj["config"], overrides=overrides).settings
    probe_pdf(source, password)
    job = DocumentJob(
        source=source,
        output=output if output is not None else source.with_suffix(".md"),
        pages=pages,
        password=password,
    )
    verbose = bool(ctx.obj["verbose"])
    observer = make_progress(verbose=verbose, tty=stderr_is_tty())

    async def run() -> DocumentResult:
        pipeline_chain = build_chain(settings)
        try:
            return await convert_document(
                job,
                pipeline_chain,
                settings.convert,
                observer,
                extract_text=_needs_text_layer(settings),
            )
        finally:
            await pipeline_chain.aclose()

    try:
        result = asyncio.run(run())
    except KeyboardInterrupt:
        observer.close()
        raise Interrupted(
            "interrupted: finished pages are kept in "
            f"{job.output.with_name('.' + job.output.name + '.partial')}",
            hint="re-run the same command to convert the rest",
        ) from None
    finally:
        observer.close()

    if report is not None:
        from ..output import write_json
        from ..report import document_report

        write_json(report, document_report([result], settings))
    _print_summary(result, json_out=json_out)
    raise typer.Exit(EXIT_OK if not result.failed else EXIT_PAGES_FAILED)


def _primary_backend(ctx: typer.Context, overrides: dict[str, Any]) -> str:
    """The backend --base-url/--model apply to: the first of the chain being used."""
    from ..settings import load_settings

    chain = overrides.get("backends.fallback_chain")
    if isinstance(chain, list):
        return str(chain[0])
    if isinstance(chain, str):
        return chain.split(",")[0].strip()
    settings = load_settings(config_file=ctx.obj["config"]).settings
    return settings.backends.fallback_chain[0]


def _needs_text_layer(settings: Settings) -> bool:
    return any(cfg.kind == "text-layer" for cfg in settings.chain)


def _print_summary(result: DocumentResult, *, json_out: bool) -> None:
    from ..report import document_summary

    summary = document_summary(result)
    if json_out:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    by = ", ".join(f"{n} by {name}" for name, n in summary["by_backend"].items()) or "none"
    line = (
        f"{summary['converted']}/{summary['pages']} pages converted in "
        f"{summary['seconds']:.1f} s ({summary['pages_per_s']:.2f} pages/s; {by}; "
        f"{summary['completion_tokens']} tokens) -> {summary['output']}"
    )
    if summary["failed"]:
        line += (
            f"; {summary['failed']} FAILED: pages {', '.join(map(str, summary['failed_pages']))}"
        )
    sys.stderr.write(line + "\n")
