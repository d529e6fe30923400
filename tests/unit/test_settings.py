"""Settings: four layers, their precedence, origins, and one-line errors that name the culprit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.errors import ConfigError
from docling_hybrid_cli.settings import (
    env_var_name,
    load_settings,
)

DPI_ENV = "DOCLING_HYBRID_CONVERT__DPI"
URL_ENV = "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__BASE_URL"

WriteConfig = Callable[..., Path]

SEED_CONFIG = """\
[backends]
default = "deepseek-vllm"
fallback_chain = ["deepseek-vllm", "nemotron-openrouter"]

[backends.deepseek-vllm]
name = "deepseek-vllm"
model = "deepseek-ai/DeepSeek-OCR"
base_url = "http://gpu-box:8000/v1/chat/completions"
temperature = 0.0
max_tokens = 8192
timeout_s = 180

[backends.nemotron-openrouter]
name = "nemotron-openrouter"
model = "nvidia/nemotron-nano-12b-v2-vl:free"
base_url = "https://openrouter.ai/api/v1"
"""


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a TOML config file and return its path."""

    def write(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_defaults_load_without_file_or_env() -> None:
    """With nothing configured, the shipped defaults validate and are the origin of every leaf."""
    resolved = load_settings(environ={})
    settings = resolved.settings
    assert settings.convert.dpi == 144
    assert settings.backends.fallback_chain == [
        "deepseek-vllm",
        "nemotron-openrouter",
        "text-layer",
        "tesseract",
    ]
    assert settings.backend("deepseek-vllm").base_url == "http://localhost:8000/v1"
    assert resolved.origins["convert.dpi"] == "default"
    assert resolved.config_file is None


@pytest.mark.parametrize("via", ["flag", "env"])
def test_file_overrides_default(write_config: WriteConfig, via: str) -> None:
    """A config file (from --config or DOCLING_HYBRID_CONFIG) beats the shipped defaults."""
    path = write_config("[convert]\ndpi = 100\n")
    if via == "flag":
        resolved = load_settings(config_file=path, environ={})
    else:
        resolved = load_settings(environ={"DOCLING_HYBRID_CONFIG": str(path)})
    assert resolved.settings.convert.dpi == 100
    assert resolved.origins["convert.dpi"] == f"file {path}"
    assert resolved.config_file == path
    assert resolved.origins["convert.max_side"] == "default"


def test_explicit_file_wins_over_config_env_var(write_config: WriteConfig) -> None:
    """--config names the file even when DOCLING_HYBRID_CONFIG points elsewhere."""
    chosen = write_config("[convert]\ndpi = 100\n", "chosen.toml")
    other = write_config("[convert]\ndpi = 300\n", "other.toml")
    resolved = load_settings(config_file=chosen, environ={"DOCLING_HYBRID_CONFIG": str(other)})
    assert resolved.settings.convert.dpi == 100


def test_env_overrides_file(write_config: WriteConfig) -> None:
    """DOCLING_HYBRID_* variables beat the file, and the origin names the variable."""
    path = write_config("[convert]\ndpi = 100\n")
    resolved = load_settings(config_file=path, environ={DPI_ENV: "200"})
    assert resolved.settings.convert.dpi == 200
    assert resolved.origins["convert.dpi"] == f"env {DPI_ENV}"


def test_overrides_beat_env(write_config: WriteConfig) -> None:
    """Command-line flags (overrides) beat env, file and defaults."""
    path = write_config("[convert]\ndpi = 100\n")
    resolved = load_settings(
        config_file=path, environ={DPI_ENV: "200"}, overrides={"convert.dpi": 250}
    )
    assert resolved.settings.convert.dpi == 250
    assert resolved.origins["convert.dpi"] == "flag"


def test_env_sets_a_hyphenated_backend_key() -> None:
    """A backend name with '-' is written with '_' in the variable and still maps onto it."""
    resolved = load_settings(environ={URL_ENV: "http://gpu-box:9000/v1"})
    assert resolved.settings.backend("deepseek-vllm").base_url == "http://gpu-box:9000/v1"
    assert resolved.origins["backends.deepseek-vllm.base_url"] == f"env {URL_ENV}"


def test_env_var_name_round_trip() -> None:
    """env_var_name gives the variable that sets a dotted key."""
    assert env_var_name("backends.deepseek-vllm.base_url") == URL_ENV
    assert env_var_name("convert.dpi") == DPI_ENV


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("deepseek-vllm", ["deepseek-vllm"]),
        ("deepseek-vllm,nemotron-openrouter", ["deepseek-vllm", "nemotron-openrouter"]),
        (" nemotron-openrouter , deepseek-vllm ", ["nemotron-openrouter", "deepseek-vllm"]),
        ('["nemotron-openrouter"]', ["nemotron-openrouter"]),
    ],
)
def test_fallback_chain_from_env(raw: str, expected: list[str]) -> None:
    """A comma-separated (or TOML list) fallback_chain in the environment becomes a list."""
    env = {"DOCLING_HYBRID_BACKENDS__FALLBACK_CHAIN": raw}
    assert load_settings(environ=env).settings.backends.fallback_chain == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://gpu:8000/v1",
        "http://gpu:8000/v1/",
        "http://gpu:8000/v1/chat/completions",
        "http://gpu:8000/v1/chat/completions/",
        "  http://gpu:8000/v1/completions ",
    ],
)
def test_base_url_is_normalised_to_api_root(url: str) -> None:
    """The API root and the seed's full chat-completions URL both end up as .../v1."""
    resolved = load_settings(environ={}, overrides={"backends.deepseek-vllm.base_url": url})
    assert resolved.settings.backend("deepseek-vllm").base_url == "http://gpu:8000/v1"


def test_base_url_without_scheme_is_rejected() -> None:
    """A base_url that is not http(s) is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"backends\.deepseek-vllm\.base_url"):
        load_settings(environ={}, overrides={"backends.deepseek-vllm.base_url": "gpu:8000/v1"})


def test_seed_schema_file_loads(write_config: WriteConfig) -> None:
    """The seed's config (no `kind`, full chat URL) loads unchanged."""
    settings = load_settings(config_file=write_config(SEED_CONFIG), environ={}).settings
    assert settings.backend("deepseek-vllm").kind == "deepseek-vllm"
    assert settings.backend("deepseek-vllm").base_url == "http://gpu-box:8000/v1"
    assert settings.backend("nemotron-openrouter").kind == "openrouter"


@pytest.mark.parametrize(
    ("table", "expected_kind"),
    [
        ('name = "deepseek-mlx"\nbase_url = "http://mac:8080/v1"', "deepseek-mlx"),
        ('name = "my-router"\nbase_url = "https://openrouter.ai/api/v1"', "openrouter"),
        ('name = "my-lmstudio"\nbase_url = "http://localhost:1234/v1"', "openai-compatible"),
    ],
)
def test_kind_inferred_for_new_backend_without_kind(
    write_config: WriteConfig,
    table: str,
    expected_kind: str,
) -> None:
    """A backend table without `kind` gets it from its name, else from an OpenRouter URL."""
    name = table.split('"')[1]
    path = write_config(f"[backends.{name}]\n{table}\n")
    assert load_settings(config_file=path, environ={}).settings.backend(name).kind == expected_kind


def test_backend_config_infers_kind_directly() -> None:
    """BackendConfig itself infers a missing kind from a name that is a kind."""
    assert backend_config(name="deepseek-vllm", base_url="http://x/v1").kind == "deepseek-vllm"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[convert]\ndpix = 200\n", "convert.dpix"),
        ("[convrt]\ndpi = 200\n", "convrt"),
        (
            "[backends.deepseek-vllm]\nbase_urll = 'http://x/v1'\n",
            "backends.deepseek-vllm.base_urll",
        ),
        ("[retry]\nmax_tries = 2\n", "retry.max_tries"),
    ],
)
def test_unknown_key_in_file_names_key_and_file(
    write_config: WriteConfig,
    text: str,
    key: str,
) -> None:
    """An unknown key in the file is a ConfigError naming the key and the file."""
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=path, environ={})
    message = str(info.value)
    assert key in message
    assert "unknown key" in message
    assert str(path) in message


@pytest.mark.parametrize(
    "var",
    [
        "DOCLING_HYBRID_CONVERT__DPIX",
        "DOCLING_HYBRID_CONVRT__DPI",
        "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__BASE_URLL",
    ],
)
def test_unknown_env_var_names_variable(var: str) -> None:
    """An unknown DOCLING_HYBRID_A__B variable is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as info:
        load_settings(environ={var: "1"})
    assert var in str(info.value)


@pytest.mark.parametrize(
    ("layer", "key"),
    [
        ("file", "convert.dpi"),
        ("env", "convert.dpi"),
        ("flag", "convert.dpi"),
        ("file", "convert.image_format"),
        ("file", "backends.deepseek-vllm.max_concurrency"),
    ],
)
def test_wrong_type_names_key_and_layer(write_config: WriteConfig, layer: str, key: str) -> None:
    """A value of the wrong type is a ConfigError naming the key and where it came from."""
    section, _, leaf = key.rpartition(".")
    bad = "gif" if leaf == "image_format" else "lots"
    config_file: Path | None = None
    environ: dict[str, str] = {}
    overrides: dict[str, object] = {}
    if layer == "file":
        config_file = write_config(f'[{section}]\n{leaf} = "{bad}"\n')
        where = "file"
    elif layer == "env":
        environ[env_var_name(key)] = bad
        where = env_var_name(key)
    else:
        overrides[key] = bad
        where = "flag"
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config_file, environ=environ, overrides=overrides)
    assert key in str(info.value)
    assert where in str(info.value)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DOCLING_HYBRID_BACKENDS__FALLBACK_CHAIN": "deepseek-vllm,nope"}, "nope"),
        ({"DOCLING_HYBRID_BACKENDS__DEFAULT": "ghost"}, "ghost"),
    ],
)
def test_unknown_backend_in_chain(env: dict[str, str], name: str) -> None:
    """A chain or default naming an unconfigured backend is a ConfigError listing the known."""
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert repr(name) in str(info.value)
    assert "deepseek-vllm" in str(info.value)


def test_unknown_backend_in_file_chain(write_config: WriteConfig) -> None:
    """A file's fallback_chain naming an unknown backend names it."""
    path = write_config('[backends]\nfallback_chain = ["deepseek-vllm", "typo-ocr"]\n')
    with pytest.raises(ConfigError, match="typo-ocr"):
        load_settings(config_file=path, environ={})


def test_empty_fallback_chain_is_rejected() -> None:
    """A chain with no backend is an error, not a run that converts nothing."""
    with pytest.raises(ConfigError, match="fallback_chain"):
        load_settings(environ={"DOCLING_HYBRID_BACKENDS__FALLBACK_CHAIN": ""})


def test_settings_backend_lookup_names_known_backends() -> None:
    """Settings.backend() of an unknown name is a ConfigError listing the configured ones."""
    settings = load_settings(environ={}).settings
    with pytest.raises(ConfigError, match="nemotron-openrouter"):
        settings.backend("nope")


@pytest.mark.parametrize("via", ["flag", "env"])
def test_missing_config_file(tmp_path: Path, via: str) -> None:
    """A config file that does not exist is a ConfigError naming the path."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="not found") as info:
        if via == "flag":
            load_settings(config_file=missing, environ={})
        else:
            load_settings(environ={"DOCLING_HYBRID_CONFIG": str(missing)})
    assert str(missing) in str(info.value)


@pytest.mark.parametrize(
    "text", ["[convert\ndpi = 1\n", "dpi = = 3\n", "[convert]\ndpi = 1\ndpi = 2\n"]
)
def test_invalid_toml(write_config: WriteConfig, text: str) -> None:
    """A file that is not TOML is a ConfigError naming the file."""
    path = write_config(text)
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_settings(config_file=path, environ={})
    assert str(path) in str(info.value)


def test_user_config_file_is_found(tmp_path: Path) -> None:
    """Without --config or the env var, the user config dir's config.toml is read."""
    from docling_hybrid_cli.settings import user_config_path

    path = user_config_path()
    assert str(path).startswith(str(tmp_path))  # conftest isolates XDG_CONFIG_HOME
    path.parent.mkdir(parents=True)
    path.write_text("[convert]\ndpi = 96\n", encoding="utf-8")
    resolved = load_settings(environ={})
    assert resolved.settings.convert.dpi == 96
    assert resolved.config_file == path


@pytest.mark.parametrize(
    "separator",
    ["{pages}", "{page:>999999999999}", "{page.__class__}", "{page!r}", "{0}", "{}", "{page", "}"],
)
def test_separator_with_anything_but_the_bare_placeholder_is_rejected(separator: str) -> None:
    """page_separator may only use {page}: no format spec, attribute or conversion."""
    with pytest.raises(ConfigError, match="page_separator"):
        load_settings(environ={}, overrides={"convert.page_separator": separator})


@pytest.mark.parametrize("separator", ["\n\n<!-- page {page} -->\n\n", "---", "{{page}} {page}"])
def test_separator_with_the_bare_placeholder_is_accepted(separator: str) -> None:
    settings = load_settings(environ={}, overrides={"convert.page_separator": separator}).settings
    assert settings.convert.page_separator == separator


def test_table_level_error_does_not_blame_the_defaults() -> None:
    """A chain naming an unknown backend from a flag is not attributed to the shipped defaults."""
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, overrides={"backends.fallback_chain": ["nope"]})
    assert "'nope'" in str(info.value)
    assert "from default" not in str(info.value)


@pytest.mark.parametrize(
    ("backend", "key", "value", "family"),
    [
        ("deepseek-vllm", "psm", "3", "deepseek-vllm"),
        ("tesseract", "referer", "'https://example.org'", "tesseract"),
        ("text-layer", "temperature", "0.5", "text-layer"),
        ("nemotron-openrouter", "lang", "'deu'", "openrouter"),
    ],
)
def test_key_of_another_family_is_an_error_naming_it(
    write_config: WriteConfig, backend: str, key: str, value: str, family: str
) -> None:
    """Each family accepts only its own keys: the error names the key, the family and the file."""
    path = write_config(f"[backends.{backend}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=path, environ={})
    message = str(info.value)
    assert (
        f"invalid setting backends.{backend}.{key}: unknown key for a {family} backend" in message
    )
    assert str(path) in message


def test_unknown_kind_lists_the_kinds(write_config: WriteConfig) -> None:
    path = write_config("[backends.tesseract]\nkind = 'paddle'\n")
    with pytest.raises(ConfigError, match=r"backends\.tesseract\.kind: must be one of .*tesseract"):
        load_settings(config_file=path, environ={})


def test_changing_a_backends_kind_keeps_its_shared_keys(write_config: WriteConfig) -> None:
    """deepseek-vllm served by a generic OpenAI-compatible server: same keys, new family."""
    path = write_config("[backends.deepseek-vllm]\nkind = 'openai-compatible'\n")
    config = load_settings(config_file=path, environ={}).settings.backend("deepseek-vllm")
    assert config.kind == "openai-compatible"
    assert config.family_title == "OpenAI-compatible server"


@pytest.mark.parametrize(
    ("kind", "needs_server", "needs_text_layer", "answer_style"),
    [
        ("deepseek-vllm", True, False, "deepseek"),
        ("deepseek-mlx", True, False, "deepseek"),
        ("openrouter", True, False, "plain"),
        ("openai-compatible", True, False, "plain"),
        ("text-layer", False, True, "plain"),
        ("tesseract", False, False, "plain"),
    ],
)
def test_each_family_states_its_capabilities(
    kind: str, needs_server: bool, needs_text_layer: bool, answer_style: str
) -> None:
    config = backend_config(
        name="b", kind=kind, **({"base_url": "http://x/v1"} if needs_server else {})
    )
    assert config.kind == kind
    assert config.needs_server is needs_server
    assert config.needs_text_layer is needs_text_layer
    assert config.answer_style == answer_style
    assert config.family_title
    assert config.needs_key is (kind == "openrouter")


def test_non_finite_numbers_in_extra_body_are_refused(write_config: WriteConfig) -> None:
    """TOML allows nan and inf; the JSON request could not carry them."""
    path = write_config("[backends.deepseek-vllm]\nextra_body = { top_p = nan, n = [1, inf] }\n")
    with pytest.raises(ConfigError, match=r"extra_body: numbers must be finite"):
        load_settings(config_file=path, environ={})


def test_deepseek_vllm_waits_for_a_full_answer_but_not_for_a_dead_server() -> None:
    """timeout_s fits a ~7,000-token answer on a busy L4; the connect timeout stays short."""
    shipped = load_settings(environ={}).settings.backend("deepseek-vllm")
    built_in = backend_config(name="gpu", kind="deepseek-vllm", base_url="http://gpu:8000/v1")
    for config in (shipped, built_in):
        assert config.timeout_s >= 600
        assert config.connect_timeout_s <= 10  # type: ignore[union-attr]
    other = backend_config(name="x", kind="openai-compatible", base_url="http://x:1/v1")
    assert other.timeout_s == 180  # only the vLLM family's default moved


def test_the_deadline_is_the_default_retry_bound() -> None:
    retry = load_settings(environ={}).settings.retry
    assert retry.deadline_s == 300
    assert retry.max_attempts is None and retry.rate_limit_attempts is None


def test_a_config_file_written_for_the_old_attempt_budgets_still_loads(
    write_config: WriteConfig,
) -> None:
    """``max_attempts`` and ``rate_limit_attempts`` stay valid keys, now optional caps."""
    path = write_config("[retry]\nmax_attempts = 3\nrate_limit_attempts = 6\n")
    retry = load_settings(config_file=path, environ={}).settings.retry
    assert (retry.max_attempts, retry.rate_limit_attempts) == (3, 6)
    assert retry.deadline_s == 300


@pytest.mark.parametrize(("key", "value"), [("deadline_s", "-1"), ("max_attempts", "0")])
def test_retry_bounds_out_of_range_name_the_key(key: str, value: str) -> None:
    env = {f"DOCLING_HYBRID_RETRY__{key.upper()}": value}
    with pytest.raises(ConfigError, match=rf"retry\.{key}"):
        load_settings(environ=env)
