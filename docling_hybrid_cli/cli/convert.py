"""``docling-hybrid-ocr convert``: PDF in, Markdown out."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import EXIT_TERMINATED, Interrupted, UsageError
from .convert_outputs import ShownOutput, emit_markdown, show_stdout

if TYPE_CHECKING:
    from .progress import PlainProgress, RichProgress

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)


def convert(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="PDFs, page images (PNG/JPEG/TIFF) or directories to convert.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file (one input; its suffix may be any --to format's, the stem names "
            "every output), directory (outputs under their input stems), or - for the "
            "Markdown on stdout (default: beside each input).",
        ),
    ] = None,
    pages: Annotated[
        str | None, typer.Option("--pages", "-p", help="Pages to convert, e.g. 1-3,7 or 5-.")
    ] = None,
    glob: Annotated[
        str, typer.Option("--glob", help="Files to pick up inside directory inputs.")
    ] = "**/*.pdf",
    backend: Annotated[
        str | None,
        typer.Option("--backend", "-b", help="Use only this backend (no fallback)."),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option("--chain", help="Backends to try in order, comma-separated."),
    ] = None,
    base_url: Annotated[
        list[str] | None,
        typer.Option(
            "--base-url",
            help="API root of the first backend; repeat it for several replicas of the same "
            "model (one pool: each page goes to the least busy one).",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model name for the first backend.")
    ] = None,
    concurrency: Annotated[
        str | None,
        typer.Option(
            "--concurrency",
            "-j",
            metavar="N|auto",
            help="Pages in flight at once: N fixes it (capped by the first backend's "
            "limits), auto (the default) follows the backends' adaptive limits.",
        ),
    ] = None,
    dpi: Annotated[int | None, typer.Option("--dpi", help="Render resolution.")] = None,
    image_format: Annotated[str | None, typer.Option("--image-format", help="jpeg or png.")] = None,
    separator: Annotated[
        str | None,
        typer.Option("--separator", help="Text between pages; {page} is the next page number."),
    ] = None,
    tables: Annotated[
        str | None,
        typer.Option(
            "--tables",
            metavar="markdown|html",
            help="Tables as GFM pipe tables (markdown, the default: spanning cells repeated) "
            "or as the model's HTML (html: for renderers that draw spans).",
        ),
    ] = None,
    math: Annotated[
        str | None,
        typer.Option(
            "--math",
            metavar="dollars|latex",
            help="Math as $…$ and $$…$$ (dollars, the default: literal $ escaped) "
            "or with the model's own LaTeX delimiters (latex). Style only: a re-run "
            "with another --tables or --math re-renders checkpointed pages without requests.",
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="Password of encrypted PDFs; '-' asks for it (hidden). "
            "Prefer --password-env: a password on the command line shows in ps and history.",
        ),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            metavar="VAR",
            help="Read the PDF password from this environment variable.",
        ),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            min=0,
            metavar="USD",
            help="Spending cap for paid backends (OpenRouter's paid models): once the cost "
            "they report reaches USD, no new paid request is sent and the remaining pages "
            "go down the chain.",
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Send a suspect page (its text disagrees with the PDF's own text layer) to "
            "the next backend of the chain that reads images; keep the answer that agrees "
            "better.",
        ),
    ] = False,
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to",
            metavar="FORMAT",
            help="Output format, repeatable: md (the Markdown, default), json (a DoclingDocument), "
            "html, text (.txt) or doctags, exported from it (all but md need pip install "
            "'docling-hybrid-ocr[docling]').",
        ),
    ] = None,
    json_images: Annotated[
        str | None,
        typer.Option(
            "--json-images",
            metavar="referenced|embedded|none",
            help="Figure crops in the JSON and HTML: paths into <stem>_images/ (referenced, "
            "the default), data URIs inside the file (embedded) or left out (none).",
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Neither reuse nor store page checkpoints."),
    ] = False,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help="Skip documents whose outputs (every --to format) exist, are newer than the "
            "input and were written with the same settings (read from the manifest beside them).",
        ),
    ] = False,
    cache_encrypted: Annotated[
        bool,
        typer.Option(
            "--cache-encrypted",
            help="Checkpoint pages of password-protected PDFs too (their text then "
            "lies unencrypted in the cache until the document completes).",
        ),
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a per-page JSON report here.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the run summary as JSON on stdout.")
    ] = False,
    use_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run the documents as Ray tasks across a cluster (needs pip install "
            "'docling-hybrid-ocr[ray]'; docs/SCALING.md). Without an address: a local Ray "
            "instance started for the command.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="ADDR",
            help="The Ray cluster to join with --ray (default: RAY_ADDRESS, then [ray] address).",
        ),
    ] = None,
) -> None:
    """Convert PDFs (or page images) to Markdown, page by page, through the backend chain.

    An existing output file is replaced, atomically, only when its document
    finishes; a second run on the same output refuses while the first goes on.
    Converted pages are checkpointed (not those of password-protected PDFs,
    unless --cache-encrypted): after Ctrl-C or failed pages, the same command
    again sends only the missing pages. Finished documents are recorded in a
    manifest beside their outputs: with --skip-existing, a re-run over a corpus
    skips every document already converted with the same settings.

    A blank page, or one on which no backend found text, is an empty page:
    converted, with nothing but the page separator in the Markdown.

    A page whose text disagrees with the PDF's own text layer is suspect:
    converted, listed in the summary ("2 pages to check: 3, 7"), marked in
    the Markdown and the report. It does not change the exit code.

    Exit codes: 0 every page converted; 1 some pages failed (their place in
    the Markdown holds a comment saying why) or an output could not be
    written (disk full); 2 bad input, config or flags, or the output is busy;
    130 interrupted (143 on SIGTERM, handled the same way).
    """
    import asyncio

    from ..batch import convert_batch
    from ..formats import DOCLING_FORMATS, primary_output
    from ..jobs import check_report, plan_jobs
    from ..settings import load_settings
    from ..sources import count_source_pages
    from .console import one_or_many, stderr_is_tty
    from .convert_outputs import check_stdout, is_stdout, stdout_workdir
    from .password import resolve_password
    from .progress import make_progress

    overrides: dict[str, Any] = {}
    for key, value in (
        ("convert.concurrency", concurrency),
        ("convert.dpi", dpi),
        ("convert.image_format", image_format),
        ("convert.page_separator", separator),
        ("convert.max_cost", max_cost),
        ("convert.tables", tables),
        ("convert.math", math),
        ("convert.json_images", json_images),
    ):
        if value is not None:
            overrides[key] = value
    if verify:
        overrides["convert.verify"] = True
    if to:
        overrides["convert.to"] = list(dict.fromkeys(to))
    if backend is not None:
        overrides["backends.fallback_chain"] = [backend]
    elif chain is not None:
        overrides["backends.fallback_chain"] = chain
    if base_url or model is not None:
        primary = _primary_backend(ctx, overrides)
        if base_url:
            overrides[f"backends.{primary}.base_url"] = one_or_many(base_url)
        if model is not None:
            overrides[f"backends.{primary}.model"] = model

    settings = load_settings(config_file=ctx.obj["config"], overrides=overrides).settings
    if ray_address is not None and not use_ray:
        raise UsageError("--ray-address needs --ray")
    if use_ray:
        from ..ray_engine import require_ray

        require_ray()
    formats = settings.convert.to
    if to_stdout := is_stdout(output):
        check_stdout(inputs, formats, json_out=json_out, skip_existing=skip_existing)
    if DOCLING_FORMATS.intersection(formats):
        from ..docling_document import require_docling_core

        require_docling_core(formats)
    password = resolve_password(password, password_env)
    if to_stdout:
        output = ctx.with_resource(stdout_workdir())
    jobs = plan_jobs(
        inputs, output=output, pattern=glob, pages=pages, password=password, formats=formats
    )
    if report is not None:
        check_report(jobs, report, formats)
    if len(jobs) == 1:
        count_source_pages(jobs[0].source, password, max_side=settings.convert.max_side)
    verbose = bool(ctx.obj["verbose"])
    if use_ray:
        from ..ray_engine.run import ray_session

        # Opened first: ray.init installs a SIGTERM handler, ours must come after it.
        engine: contextlib.AbstractContextManager[Any] = ray_session(
            settings,
            ray_address,
            verbose=verbose,
            use_cache=not no_cache,
            skip_existing=skip_existing,
            cache_encrypted=cache_encrypted,
        )
    else:
        engine = contextlib.nullcontext(None)
    progress = make_progress(verbose=verbose, tty=stderr_is_tty())
    observer: ShownOutput | PlainProgress | RichProgress = progress
    if to_stdout or "md" not in formats:
        observer = ShownOutput(
            progress, lambda stem: Path("-") if to_stdout else primary_output(stem, formats)
        )

    try:
        with engine as on_ray, _sigterm_as_interrupt() as terminated:
            batch = asyncio.run(
                on_ray(jobs, observer)
                if on_ray is not None
                else convert_batch(
                    jobs,
                    settings,
                    observer,
                    use_cache=not no_cache,
                    skip_existing=skip_existing,
                    cache_encrypted=cache_encrypted,
                )
            )
    except KeyboardInterrupt:
        stopped = Interrupted(
            "terminated: converted pages are checkpointed"
            if terminated
            else "interrupted: converted pages are checkpointed",
            hint="run the same command again to convert only the rest",
        )
        if terminated:
            stopped.exit_code = EXIT_TERMINATED
        raise stopped from None
    finally:
        observer.close()

    if report is not None:
        from ..output import write_json
        from ..report import document_report

        payload = document_report(
            batch.documents,
            settings,
            batch.spending,
            engine=batch.engine,
            nodes=batch.nodes,
            concurrency=batch.concurrency,
        )
        if to_stdout:
            show_stdout(payload["documents"])
        write_json(report, payload)
    if to_stdout:
        emit_markdown(jobs[0].output)
    from .summary import print_summary

    print_summary(batch, settings, json_out=json_out, to_stdout=to_stdout)
    raise typer.Exit(batch.exit_code)


def _primary_backend(ctx: typer.Context, overrides: dict[str, Any]) -> str:
    """The backend --base-url/--model apply to: the first of the chain being used.

    It must already be configured: otherwise ``--backend typo --base-url URL``
    would quietly define a new generic backend named ``typo`` and run with it.
    """
    from ..settings import load_settings

    settings = load_settings(config_file=ctx.obj["config"]).settings
    chain = overrides.get("backends.fallback_chain")
    if isinstance(chain, list):
        primary = str(chain[0])
    elif isinstance(chain, str):
        primary = chain.split(",")[0].strip()
    else:
        primary = settings.backends.fallback_chain[0]
    return settings.backend(primary).name


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[bool]]:
    """Stop on SIGTERM the way Ctrl-C stops: finished pages kept, outputs left consistent.

    Containers and job schedulers stop a process with SIGTERM; its default
    action would kill us mid-write. The handler re-raises it as SIGINT, so the
    one, tested Ctrl-C path runs; the yielded list becomes ``[True]`` so the
    exit code can say which signal it was (143, as shells report SIGTERM).
    The previous handler is restored afterwards.
    """
    seen: list[bool] = []

    def on_term(signum: int, frame: object) -> None:
        seen.append(True)
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)
