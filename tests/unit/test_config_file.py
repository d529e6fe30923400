"""The user config file: template, set/get round trip, comments kept, validation before writing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from docling_hybrid_cli import config_file
from docling_hybrid_cli.config_file import (
    config_target,
    get_setting,
    init_config,
    set_value,
    setting_choices,
    setting_rows,
    user_config_template,
    validate_config,
)
from docling_hybrid_cli.errors import ConfigError, OutputError
from docling_hybrid_cli.settings import load_settings, user_config_path

SECRET = "sk-or-PLANTED-SECRET"


def test_target_prefers_flag_then_env_then_user_dir(tmp_path: Path) -> None:
    flag = tmp_path / "flag.toml"
    env = tmp_path / "env.toml"
    assert config_target(flag, {"DOCLING_HYBRID_CONFIG": str(env)}) == flag
    assert config_target(None, {"DOCLING_HYBRID_CONFIG": str(env)}) == env
    assert config_target(None, {}) == user_config_path()
    assert str(user_config_path()).startswith(str(tmp_path))


def test_template_loads_to_the_shipped_defaults(tmp_path: Path) -> None:
    path = init_config(tmp_path / "config.toml")
    assert tomllib.loads(path.read_text())["backends"]["deepseek-vllm"] == {}
    resolved = load_settings(config_file=path, environ={})
    assert resolved.settings == load_settings(environ={}).settings
    assert "# timeout_s = 180" in user_config_template()


def test_init_keeps_an_existing_file_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n")
    with pytest.raises(ConfigError, match="already exists"):
        init_config(path)
    assert path.read_text() == "# mine\n"
    init_config(path, force=True)
    assert path.read_text() == user_config_template()


def test_set_then_get_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert set_value(path, "backends.deepseek-vllm.timeout_s", "60") == 60
    set_value(path, "backends.deepseek-vllm.model", "org/other-model")
    set_value(path, "backends.fallback_chain", '["deepseek-vllm", "text-layer"]')

    resolved = load_settings(config_file=path, environ={})
    row = get_setting(resolved, "backends.deepseek-vllm.timeout_s")
    assert row.value == 60
    assert row.source == f"file {path}"
    assert get_setting(resolved, "backends.deepseek-vllm.model").value == "org/other-model"
    assert resolved.settings.backends.fallback_chain == ["deepseek-vllm", "text-layer"]


def test_hand_written_comments_survive_set(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "# my own notes, keep me\n"
        "[backends.deepseek-vllm]\n"
        'base_url = "http://gpu-box:8000/v1"  # the lab server\n'
        "timeout_s = 90\n"
    )
    set_value(path, "backends.deepseek-vllm.timeout_s", "30")
    text = path.read_text()
    assert text.startswith("# my own notes, keep me\n")
    assert 'base_url = "http://gpu-box:8000/v1"  # the lab server' in text
    assert "timeout_s = 30" in text and "timeout_s = 90" not in text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("convert.dpi", "lots", "convert.dpi: Input should be a valid integer"),
        ("convert.bogus", "1", "convert.bogus: unknown key"),
        ("backends.deepseek-vllm.timeout_s", "-5", "timeout_s: Input should be greater than 0"),
    ],
)
def test_invalid_value_names_key_and_file_and_leaves_it_untouched(
    tmp_path: Path, key: str, value: str, expected: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# untouched\n")
    with pytest.raises(ConfigError) as caught:
        set_value(path, key, value)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message
    assert path.read_text() == "# untouched\n"


def test_setting_below_a_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[convert]\ndpi = 100\n")
    with pytest.raises(ConfigError, match=r"convert\.dpi is a value, not a table"):
        set_value(path, "convert.dpi.x", "1")


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the old file whole and no temporary file behind."""
    path = tmp_path / "config.toml"
    path.write_text("[convert]\ndpi = 100\n")

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OutputError, match="No space left"):
        set_value(path, "convert.dpi", "200")
    assert path.read_text() == "[convert]\ndpi = 100\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_unknown_get_key_is_a_config_error(tmp_path: Path) -> None:
    resolved = load_settings(environ={})
    with pytest.raises(ConfigError, match=r"unknown setting 'convert\.nope'"):
        get_setting(resolved, "convert.nope")


def test_get_a_table_returns_its_leaves() -> None:
    row = get_setting(load_settings(environ={}), "retry")
    assert isinstance(row.value, dict) and row.value["deadline_s"] == 300.0
    assert row.value["max_attempts"] is None  # an optional cap, unset by default


def test_validate_names_the_file_at_fault(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[backends.deepseek-vllm]\ntimeout_s = 'soon'\n")
    with pytest.raises(ConfigError, match=r"backends\.deepseek-vllm\.timeout_s.*bad\.toml"):
        validate_config(path)
    with pytest.raises(ConfigError, match="not found"):
        validate_config(tmp_path / "missing.toml")


def test_rows_show_sources_and_hide_secrets(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[backends.deepseek-vllm]\ntimeout_s = 42\nheaders = { Authorization = "Bearer xyz-123" }\n'
    )
    environ = {
        "OPENROUTER_API_KEY": SECRET,
        "DOCLING_HYBRID_CONVERT__DPI": "200",
        "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__PROMPT": f"leaked {SECRET}",
    }
    resolved = load_settings(config_file=path, environ=environ)
    rows = {row.key: row for row in setting_rows(resolved, environ)}

    assert rows["backends.deepseek-vllm.timeout_s"].source == f"file {path}"
    assert rows["convert.dpi"].source == "env DOCLING_HYBRID_CONVERT__DPI"
    assert rows["retry.deadline_s"].source == "default"
    assert rows["backends.deepseek-vllm.headers.Authorization"].value == config_file.REDACTED
    assert rows["backends.deepseek-vllm.prompt"].value == config_file.REDACTED
    assert SECRET not in repr(rows)


def test_settings_with_a_fixed_few_values_list_them() -> None:
    """Literal fields have choices (shown by config show); a one-value ``kind`` has none."""
    choices = setting_choices(load_settings(environ={}).settings)
    assert choices["convert.tables"] == ("markdown", "html")
    assert choices["convert.math"] == ("dollars", "latex")
    assert choices["convert.image_format"] == ("jpeg", "png")
    assert choices["backends.deepseek-vllm.vision_encoder"] == (
        "auto",
        "deepseek-ocr",
        "deepseek-ocr-2",
    )
    assert not any(key.endswith(".kind") for key in choices)
    assert "convert.dpi" not in choices
