"""``docling-hybrid-ocr config ...``: show, locate, create, read, edit and validate settings.

Thin layer over :mod:`docling_hybrid_cli.config_file`. Every subcommand acts
on the file ``--config`` names, else ``$DOCLING_HYBRID_CONFIG``, else the user
config file. Invalid settings raise ConfigError, which the error funnel
prints as one line and turns into exit code 2. No API key is ever printed:
only the variable's name and whether it is set.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["config_app"]

config_app = typer.Typer(
    name="config",
    help="Show, create, edit and validate the configuration.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _target(ctx: typer.Context) -> Path:
    from ..config_file import config_target

    return config_target(ctx.obj["config"])


def _out(text: str) -> None:
    from ..redact import redact

    sys.stdout.write(redact(text) + "\n")


@config_app.command("show")
def show(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print every effective setting, where it came from (default, file, env, flag) and,
    for settings with a fixed few values, the choices."""
    from ..config_file import format_value, key_status, setting_rows
    from ..settings import load_settings

    resolved = load_settings(config_file=ctx.obj["config"])
    rows = setting_rows(resolved)
    keys = key_status(resolved.settings)
    config_file = str(resolved.config_file) if resolved.config_file else None
    if json_out:
        payload: dict[str, Any] = {
            "config_file": config_file,
            "settings": {
                row.key: {"value": row.value, "source": row.source}
                | ({"choices": list(row.choices)} if row.choices else {})
                for row in rows
            },
            "api_keys": {name: "set" if present else "not set" for name, present in keys.items()},
        }
        _out(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    _out(f"# config file: {config_file or 'none (shipped defaults only)'}")
    width = max(len(f"{row.key} = {format_value(row.value)}") for row in rows)
    for row in rows:
        assignment = f"{row.key} = {format_value(row.value)}"
        line = f"{assignment:<{width}}  # {row.source}"
        if row.choices:
            line += f" ({' | '.join(row.choices)})"
        if row.key.endswith(".api_key_env") and isinstance(row.value, str):
            line += " (key: set, redacted)" if keys.get(row.value) else " (key: not set)"
        _out(line)


@config_app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the config file the config commands use, and whether it exists yet."""
    target = _target(ctx)
    _out(str(target))
    if not target.is_file():
        sys.stderr.write("(does not exist yet: `docling-hybrid-ocr config init` creates it)\n")


@config_app.command("init")
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config file listing every setting at its default."""
    from ..config_file import init_config

    written = init_config(_target(ctx), force=force)
    _out(f"wrote {written}")


@config_app.command("get")
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. backends.deepseek-vllm.timeout_s.")],
) -> None:
    """Print one effective setting; strings bare, other values as TOML/JSON."""
    from ..config_file import get_setting
    from ..settings import load_settings

    row = get_setting(load_settings(config_file=ctx.obj["config"]), key)
    if isinstance(row.value, str):
        _out(row.value)
    elif row.value is None:
        _out("")
    else:
        _out(json.dumps(row.value, ensure_ascii=False))


@config_app.command("set")
def set_(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. backends.deepseek-vllm.timeout_s.")],
    value: Annotated[
        str, typer.Argument(help='A TOML value (60, true, ["a", "b"]) or else a plain string.')
    ],
) -> None:
    """Set one key in the config file, keeping its comments; rejected values leave it untouched."""
    from ..config_file import format_value, set_value
    from ..settings import env_var_name

    target = _target(ctx)
    written = set_value(target, key, value)
    _out(f"{key} = {format_value(written)}  (in {target})")
    variable = env_var_name(key)
    if variable in os.environ:
        sys.stderr.write(f"note: {variable} is set and overrides this value\n")


@config_app.command("validate")
def validate(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="File to check on its own (default: the effective config).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Check a config file (or the effective config) against the typed settings."""
    from ..config_file import validate_config
    from ..settings import load_settings

    if file is not None:
        validate_config(file)
        _out(f"ok: {file}")
        return
    resolved = load_settings(config_file=ctx.obj["config"])
    _out(f"ok: {resolved.config_file or 'shipped defaults'} (with environment overrides)")
