"""Typed settings, resolved once from four layers.

Precedence, lowest first: the shipped ``default.toml`` < the user config file
< ``DOCLING_HYBRID_*`` environment variables < command-line flags. Each layer
is a nested dict; they are deep-merged and validated into :class:`Settings`
exactly once per command, and every leaf remembers which layer set it, so
``config show`` can say where a value came from and an error can name the
file or variable at fault.

Environment variables: ``DOCLING_HYBRID_<SECTION>__<KEY>``, upper case, with a
backend's name written with ``_`` for ``-``, e.g.
``DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__BASE_URL`` or
``DOCLING_HYBRID_CONVERT__DPI=200``. Values are read as TOML values when they
parse as one (numbers, booleans, ``["a", "b"]``), else as plain strings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .backend_configs import (
    BACKEND_KINDS,
    BackendConfig,
    BackendConfigBase,
    HttpBackendConfig,
    infer_kind,
)
from .errors import ConfigError
from .keyguard import is_secret_header
from .redact import register_secret
from .setting_sections import CacheSettings, ConvertSettings, RaySettings, RetrySettings

__all__ = [
    "APP_NAME",
    "BACKEND_KINDS",
    "BackendConfig",
    "BackendConfigBase",
    "HttpBackendConfig",
    "CacheSettings",
    "ConvertSettings",
    "ENV_PREFIX",
    "Layer",
    "ResolvedSettings",
    "RetrySettings",
    "Settings",
    "default_config_text",
    "env_var_name",
    "load_settings",
    "user_config_path",
]

APP_NAME = "docling-hybrid-ocr"
ENV_PREFIX = "DOCLING_HYBRID_"
CONFIG_ENV = "DOCLING_HYBRID_CONFIG"


class BackendsSection(BaseModel):
    """The ``[backends]`` table: chain order plus one sub-table per backend."""

    model_config = ConfigDict(extra="forbid")

    default: str
    fallback_chain: list[str]
    configs: dict[str, BackendConfig]

    @field_validator("fallback_chain", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="before")
    @classmethod
    def _split_tables(cls, data: Any) -> Any:
        """TOML mixes chain keys and backend tables in one table; separate them."""
        if not isinstance(data, dict):
            return data
        scalars = {k: v for k, v in data.items() if k in ("default", "fallback_chain", "configs")}
        tables = {k: v for k, v in data.items() if k not in scalars}
        configs = {k: infer_kind(v) for k, v in (scalars.pop("configs", {}) or {}).items()}
        for name, table in tables.items():
            if not isinstance(table, dict):
                raise ValueError(f"unknown key {name!r} (a backend must be a table)")
            configs[name] = infer_kind({"name": name, **table})
        return {**scalars, "configs": configs}

    @model_validator(mode="after")
    def _names_exist(self) -> BackendsSection:
        known = ", ".join(sorted(self.configs))
        for name in [self.default, *self.fallback_chain]:
            if name not in self.configs:
                raise ValueError(f"unknown backend {name!r} (configured: {known})")
        if not self.fallback_chain:
            raise ValueError("fallback_chain names no backend")
        for key, cfg in self.configs.items():
            if cfg.name != key:
                raise ValueError(f"backend table {key!r} has name {cfg.name!r}; they must match")
            if isinstance(cfg, HttpBackendConfig) and not cfg.base_url:
                raise ValueError(f"backend {key!r} needs a base_url")
        return self


class Settings(BaseSettings):
    """The effective configuration of one run.

    A pydantic-settings model whose only source is the pre-merged layers
    (see :func:`load_settings`): we resolve the layers ourselves because
    backend names contain ``-`` and each value must remember its origin.
    """

    model_config = SettingsConfigDict(extra="forbid")

    backends: BackendsSection
    convert: ConvertSettings = Field(default_factory=ConvertSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    ray: RaySettings = Field(default_factory=RaySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    def backend(self, name: str) -> BackendConfig:
        """The named backend's config; a one-line error lists the known names."""
        try:
            return self.backends.configs[name]
        except KeyError:
            known = ", ".join(sorted(self.backends.configs))
            raise ConfigError(f"unknown backend {name!r} (configured: {known})") from None

    @property
    def chain(self) -> list[BackendConfig]:
        return [self.backends.configs[name] for name in self.backends.fallback_chain]


@dataclass(frozen=True)
class Layer:
    """One configuration layer: where it came from and what it says."""

    source: str
    data: dict[str, Any]


@dataclass
class ResolvedSettings:
    """Settings plus, for every leaf, the layer that set it."""

    settings: Settings
    origins: dict[str, str] = field(default_factory=dict)
    config_file: Path | None = None


def default_config_text() -> str:
    """The shipped defaults, read from the installed package."""
    return resources.files("docling_hybrid_cli").joinpath("default.toml").read_text("utf-8")


def user_config_path() -> Path:
    """Where ``config init`` writes and where a user file is looked for by default."""
    import typer

    return Path(typer.get_app_dir(APP_NAME)) / "config.toml"


def env_var_name(dotted_key: str) -> str:
    """``backends.deepseek-vllm.timeout_s`` → ``..._BACKENDS__DEEPSEEK_VLLM__TIMEOUT_S``."""
    return ENV_PREFIX + "__".join(p.replace("-", "_").upper() for p in dotted_key.split("."))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None


def _choose_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        return explicit
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser()
    candidate = user_config_path()
    return candidate if candidate.is_file() else None


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_layer(environ: Mapping[str, str], known: dict[str, Any]) -> Layer:
    """Map ``DOCLING_HYBRID_A__B__C`` variables onto the keys of the merged file layers."""
    data: dict[str, Any] = {}
    for var, raw in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX) or "__" not in var[len(ENV_PREFIX) :]:
            continue
        parts = var[len(ENV_PREFIX) :].split("__")
        path: list[str] = []
        node: Any = known
        for part in parts:
            match = None
            if isinstance(node, dict):
                match = next((k for k in node if k.replace("-", "_").upper() == part.upper()), None)
            key = match if match is not None else part.lower()
            path.append(key)
            node = node.get(key) if isinstance(node, dict) else None
        _set_path(data, path, _parse_env_value(raw))
    return Layer("env", data)


def _set_path(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _merge(
    base: dict[str, Any], layer: Layer, origins: dict[str, str], env_names: bool, prefix: str = ""
) -> None:
    for key, value in layer.data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], Layer(layer.source, value), origins, env_names, dotted + ".")
            continue
        base[key] = value
        for stale in [k for k in origins if k.startswith(dotted + ".")]:
            del origins[stale]
        for leaf in _leaves(value, dotted):
            origins[leaf] = f"env {env_var_name(leaf)}" if env_names else layer.source


def _leaves(value: Any, dotted: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{dotted}.{k}")]
    return [dotted]


def load_settings(
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedSettings:
    """Resolve every layer into one validated :class:`Settings`.

    ``overrides`` are the CLI flags, as dotted keys (``convert.dpi``). Raises
    :class:`ConfigError` naming the key and the layer at fault.
    """
    environ = os.environ if environ is None else environ
    chosen = _choose_config_file(config_file, environ)
    layers = [Layer("default", tomllib.loads(default_config_text()))]
    if chosen is not None:
        layers.append(Layer(f"file {chosen}", _read_toml(chosen)))

    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for layer in layers:
        _merge(merged, layer, origins, env_names=False)
    _merge(merged, _env_layer(environ, merged), origins, env_names=True)
    flags: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        _set_path(flags, dotted.split("."), value)
    _merge(merged, Layer("flag", flags), origins, env_names=False)

    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins)) from None
    _register_secret_headers(settings)
    return ResolvedSettings(settings=settings, origins=origins, config_file=chosen)


def _register_secret_headers(settings: Settings) -> None:
    """Secret header values written in a config are redacted from everything we print.

    ``config show`` and ``config set`` echo settings, and a server may echo a
    header back in an error: registering the values once, as soon as they are
    read, covers every path.
    """
    for cfg in settings.backends.configs.values():
        for name, value in getattr(cfg, "headers", {}).items():
            if is_secret_header(name):
                register_secret(value)


def _describe(exc: ValidationError, origins: dict[str, str]) -> str:
    """The first validation error as one line: key, problem, and which layer set it."""
    err = exc.errors()[0]
    loc = _setting_path([str(p) for p in err["loc"]])
    if err["type"] == "union_tag_invalid":
        loc.append("kind")
        err["msg"] = "must be one of " + ", ".join(BACKEND_KINDS)
    dotted = ".".join(loc)
    origin = origins.get(dotted)
    if origin is None:
        # A table-level error: name its layer only when every leaf under it came from
        # one layer, or "--backend typo" would be blamed on the shipped defaults.
        below = {o for k, o in origins.items() if not dotted or k.startswith(dotted + ".")}
        origin = below.pop() if len(below) == 1 else None
    if err["type"] == "extra_forbidden":
        problem = "unknown key"
        tag = _family_tag([str(p) for p in err["loc"]])
        if tag is not None:
            problem += f" for a {tag} backend"
    else:
        problem = str(err["msg"]).removeprefix("Value error, ")
    where = f" (from {origin})" if origin else ""
    label = dotted or "config"
    return f"invalid setting {label}: {problem}{where}"


def _setting_path(loc: list[str]) -> list[str]:
    """A validation error's location as the user's key path.

    Inside ``backends`` pydantic adds ``configs`` (our internal table) and,
    for the union of backend families, the family's ``kind`` tag after the
    backend's name; neither is a key the user wrote.
    """
    if len(loc) >= 4 and loc[:2] == ["backends", "configs"]:
        name, rest = loc[2], loc[3:]
        if rest and rest[0] in BACKEND_KINDS:
            rest = rest[1:]
        return ["backends", name, *rest]
    return [p for p in loc if p != "configs"]


def _family_tag(loc: list[str]) -> str | None:
    """The backend family whose model rejected a key, from the error's location."""
    if len(loc) >= 5 and loc[:2] == ["backends", "configs"] and loc[3] in BACKEND_KINDS:
        return loc[3]
    return None
