"""The Typer application: global options and the one error funnel.

Commands live one per module and hold no business logic. Every
:class:`~docling_hybrid_cli.errors.DoclingHybridError` raised below a command
is caught in :class:`_ErrorFunnel`, printed as one line (plus a hint) on
stderr by :func:`~docling_hybrid_cli.cli.console.print_error` and turned into
its exit code; nothing else maps an exception to an exit code. (``convert``
also lists, in its summary, the inputs of a multi-file run it could not read:
those are results, recorded per file, not exceptions.)

Heavy imports (httpx, pypdfium2, pydantic) happen inside the commands so that
``--help`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import DoclingHybridError
from .console import print_error

__all__ = ["app", "main"]


class _ErrorFunnel(TyperGroup):
    """Maps the tool's exceptions to one line and an exit code, for every command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DoclingHybridError as exc:
            verbose = bool(ctx.obj and ctx.obj.get("verbose"))
            print_error(exc, verbose=verbose)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_ErrorFunnel,
    name="docling-hybrid-ocr",
    help="Turn PDFs into clean Markdown with vision-language OCR servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"docling-hybrid-ocr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (default: $DOCLING_HYBRID_CONFIG, else the user config file).",
            dir_okay=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More detail on errors and progress.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Turn PDFs into clean Markdown with vision-language OCR servers.

    Exit codes: 0 all pages converted; 1 some pages failed (output still
    written) or a server check failed; 2 bad input, config or flags; 130
    interrupted (re-run to resume); 143 convert stopped by SIGTERM.
    """
    ctx.obj = {"config": config, "verbose": verbose}


def _register() -> None:
    from .benchmark import register as register_benchmark
    from .cache import register as register_cache
    from .check_server import register as register_check_server
    from .config import config_app
    from .convert import register as register_convert

    register_convert(app)
    register_check_server(app)
    app.add_typer(config_app, name="config")
    register_cache(app)
    register_benchmark(app)


_register()


def main() -> None:
    """Console-script entry point."""
    sys.exit(app(prog_name="docling-hybrid-ocr"))
