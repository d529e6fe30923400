"""``docling-hybrid-ocr cache``: where page checkpoints live, and removing them."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]

cache_app = typer.Typer(
    help="Page checkpoints that let an interrupted convert resume.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("path")
def cache_path(ctx: typer.Context) -> None:
    """Print the checkpoint directory."""
    from ..batch import cache_root
    from ..settings import load_settings

    settings = load_settings(config_file=ctx.obj["config"]).settings
    typer.echo(str(cache_root(settings)))


@cache_app.command("clear")
def cache_clear(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """Delete every checkpoint (a later convert starts its documents afresh)."""
    from ..batch import cache_root
    from ..checkpoint import clear_cache
    from ..settings import load_settings

    settings = load_settings(config_file=ctx.obj["config"]).settings
    root = cache_root(settings)
    removed = clear_cache(root)
    if not quiet:
        typer.echo(f"removed checkpoints of {removed} document(s) from {root}")
