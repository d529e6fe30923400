"""The user config file: find it, write a commented one, read and edit single keys.

Edits go through tomlkit so the comments, order and layout a person wrote by
hand survive ``config set``. A new value is validated by loading the
would-be file through :func:`settings.load_settings`, the same typed
validation every command applies, *before* the file is replaced (atomically),
so ``config set`` can never leave behind a file that breaks the next run.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import tomlkit
from pydantic import BaseModel
from tomlkit.exceptions import TOMLKitError

from .errors import ConfigError, ConfigFileExists
from .output import atomic_write_text
from .settings import (
    CONFIG_ENV,
    HttpBackendConfig,
    ResolvedSettings,
    Settings,
    default_config_text,
    load_settings,
    user_config_path,
)
from .settings import _parse_env_value as parse_value

__all__ = [
    "SettingRow",
    "config_target",
    "flatten_settings",
    "format_value",
    "get_setting",
    "init_config",
    "key_status",
    "parse_value",
    "set_value",
    "setting_rows",
    "user_config_template",
    "validate_config",
]

REDACTED = "(redacted)"
_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^\s*[A-Za-z0-9_\-\"]+\s*=")

_TEMPLATE_HEADER = """\
# docling-hybrid-ocr user configuration, written by `docling-hybrid-ocr config init`.
#
# Values here override the shipped defaults; DOCLING_HYBRID_* environment
# variables override this file, and command-line flags override both.
# Every setting is listed below at its default, commented out: uncomment a
# line to change it, or run `docling-hybrid-ocr config set KEY VALUE`, which
# keeps the comments in this file. API keys never go in here: a backend's
# api_key_env names the environment variable that holds its key.
# Every key is described in docs/CONFIGURATION.md.

"""


@dataclass(frozen=True)
class SettingRow:
    """One effective setting, its value and the layer that set it."""

    key: str
    value: Any
    source: str
    choices: tuple[str, ...] = ()
    """The values the setting may take, when they are a fixed few."""


def config_target(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The file ``config`` subcommands read and write.

    The same choice as :func:`settings.load_settings` (``--config``, then
    ``$DOCLING_HYBRID_CONFIG``, then the user config dir), except that the
    user file is named even before it exists, so ``init`` and ``set`` can
    create it.
    """
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser()
    return user_config_path()


def user_config_template() -> str:
    """The shipped defaults with every assignment commented out and the tables kept.

    Keeping the table headers live means ``config set`` inserts a key under
    its own commented section instead of appending a new table at the end.
    """
    lines = default_config_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("["))
    body = ["# " + line if _ASSIGNMENT.match(line) else line for line in lines[start:]]
    return _TEMPLATE_HEADER + "\n".join(body) + "\n"


def init_config(path: Path, *, force: bool = False) -> Path:
    """Write the commented template to ``path``; an existing file is kept unless ``force``."""
    if path.exists() and not force:
        raise ConfigFileExists(f"config file already exists: {path}")
    atomic_write_text(path, user_config_template(), private=True)
    return path


def _split_key(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(not part.strip() for part in parts):
        raise ConfigError(
            f"invalid key {key!r}: use dotted names such as backends.deepseek-vllm.timeout_s"
        )
    return parts


def _read_document(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except TOMLKitError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None


def _validate_text(text: str, path: Path) -> None:
    """Load ``text`` as if it were ``path``, with the defaults but without env or flags.

    Environment variables are left out so that only the file's own content
    can fail; the message names ``path``, not the scratch copy.
    """
    with tempfile.TemporaryDirectory(prefix="docling-hybrid-config-") as tmp:
        scratch = Path(tmp) / path.name
        scratch.write_text(text, "utf-8")
        try:
            load_settings(config_file=scratch, environ={})
        except ConfigError as exc:
            message = str(exc).replace(str(scratch), str(path))
            raise ConfigError(message, hint=exc.hint) from None


def set_value(path: Path, key: str, raw: str) -> Any:
    """Set ``key`` to ``raw`` (a TOML literal if it parses as one, else a string) in ``path``.

    Returns the value written. Raises :class:`ConfigError` naming the key and
    the file when the result would not validate; the file is then untouched.
    """
    parts = _split_key(key)
    value = parse_value(raw)
    document = _read_document(path)
    node: MutableMapping[str, Any] = document
    for depth, part in enumerate(parts[:-1]):
        if part not in node:
            node[part] = tomlkit.table()
        child = node[part]
        if not isinstance(child, MutableMapping):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"cannot set {key}: {prefix} is a value, not a table, in {path}",
            )
        node = child
    node[parts[-1]] = value
    text = document.as_string()
    _validate_text(text, path)
    atomic_write_text(path, text, private=True)
    return value


def validate_config(file: Path) -> ResolvedSettings:
    """Validate one file on its own, over the shipped defaults but without env overrides."""
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    return load_settings(config_file=file, environ={})


def _file_shape(settings: Settings) -> dict[str, Any]:
    """The settings as nested data shaped like the config file (backends by name)."""
    data = settings.model_dump(mode="json")
    backends = data["backends"]
    configs = backends.pop("configs")
    backends.update(configs)
    return dict(data)


def flatten_settings(settings: Settings) -> dict[str, Any]:
    """Every leaf as ``dotted.key -> value``, keyed exactly as in the file and the env names."""
    flat: dict[str, Any] = {}

    def walk(value: Any, dotted: str) -> None:
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(inner, f"{dotted}.{key}" if dotted else key)
        else:
            flat[dotted] = value

    walk(_file_shape(settings), "")
    return flat


def _redact(key: str, value: Any, secrets: list[str]) -> Any:
    """Header values that look like credentials, and any loaded key's text, are hidden."""
    parts = key.split(".")
    if len(parts) >= 4 and parts[-2] == "headers" and _SENSITIVE_HEADER.search(parts[-1]):
        return REDACTED
    if isinstance(value, str) and any(secret in value for secret in secrets):
        return REDACTED
    if isinstance(value, list | dict):
        text = json.dumps(value)
        if any(secret in text for secret in secrets):
            return REDACTED
    return value


def key_status(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, bool]:
    """For each ``api_key_env`` in use: is the variable set? Never its value."""
    environ = os.environ if environ is None else environ
    names = sorted(
        {
            cfg.api_key_env
            for cfg in settings.backends.configs.values()
            if isinstance(cfg, HttpBackendConfig) and cfg.api_key_env
        }
    )
    return {name: bool(environ.get(name)) for name in names}


def setting_rows(
    resolved: ResolvedSettings, environ: Mapping[str, str] | None = None
) -> list[SettingRow]:
    """Every effective setting with its source, secrets redacted, in file order."""
    environ = os.environ if environ is None else environ
    secrets = [
        environ[name]
        for name, present in key_status(resolved.settings, environ).items()
        if present and len(environ[name]) >= 4
    ]
    choices = setting_choices(resolved.settings)
    return [
        SettingRow(
            key,
            _redact(key, value, secrets),
            resolved.origins.get(key, "default"),
            choices.get(key, ()),
        )
        for key, value in flatten_settings(resolved.settings).items()
    ]


def setting_choices(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The allowed values of every setting limited to a few (a ``Literal`` field), by key."""
    found: dict[str, tuple[str, ...]] = {}

    def walk(model: BaseModel, dotted: str) -> None:
        for name, info in type(model).model_fields.items():
            key = f"{dotted}.{name}"
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                walk(value, key)
            elif len(options := _literal_options(info.annotation)) > 1:
                found[key] = options

    for section in ("convert", "retry", "cache"):
        walk(getattr(settings, section), section)
    for name, config in settings.backends.configs.items():
        walk(config, f"backends.{name}")
    return found


def _literal_options(annotation: Any) -> tuple[str, ...]:
    """The strings of a ``Literal[...]`` annotation (also inside ``X | None``); else none."""
    if get_origin(annotation) is Literal:
        args = get_args(annotation)
        return args if all(isinstance(a, str) for a in args) else ()
    for inner in get_args(annotation):
        if options := _literal_options(inner):
            return options
    return ()


def get_setting(resolved: ResolvedSettings, key: str) -> SettingRow:
    """One effective setting (a leaf), or a whole table as a dict when ``key`` names one."""
    _split_key(key)
    rows = setting_rows(resolved)
    for row in rows:
        if row.key == key:
            return row
    inner = {row.key[len(key) + 1 :]: row.value for row in rows if row.key.startswith(key + ".")}
    if inner:
        sources = {row.source for row in rows if row.key.startswith(key + ".")}
        return SettingRow(key, inner, sources.pop() if len(sources) == 1 else "mixed")
    raise ConfigError(
        f"unknown setting {key!r}",
        hint="`docling-hybrid-ocr config show` lists every key",
    )


def format_value(value: Any) -> str:
    """A value as TOML would spell it (JSON's spelling coincides for these types)."""
    if value is None:
        return "(not set)"
    return json.dumps(value, ensure_ascii=False)
