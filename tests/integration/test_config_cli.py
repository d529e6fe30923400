"""``config`` subcommands through the real CLI, in the isolated user config dir of each test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.settings import user_config_path

SECRET = "sk-or-PLANTED-SECRET"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_path_names_the_user_config_file() -> None:
    code, out, err = cli("config", "path")
    assert code == 0
    assert out.strip() == str(user_config_path())
    assert "config init" in err


def test_init_writes_once_then_needs_force() -> None:
    code, out, _ = cli("config", "init")
    assert code == 0 and str(user_config_path()) in out
    assert user_config_path().read_text().startswith("# docling-hybrid-ocr user configuration")

    code, _, err = cli("config", "init")
    assert code == 2 and "already exists" in err and "--force" in err

    user_config_path().write_text("# changed\n")
    assert cli("config", "init", "--force")[0] == 0
    assert user_config_path().read_text() != "# changed\n"


def test_set_then_get_round_trips_and_keeps_comments() -> None:
    path = user_config_path()
    path.parent.mkdir(parents=True)
    path.write_text("# written by hand: keep this line\n[convert]\ndpi = 144  # mine\n")

    assert cli("config", "set", "backends.deepseek-vllm.timeout_s", "75")[0] == 0
    assert cli("config", "set", "backends.deepseek-vllm.model", "org/model-x")[0] == 0
    assert cli("config", "set", "convert.dpi", "200")[0] == 0

    assert cli("config", "get", "backends.deepseek-vllm.timeout_s")[1].strip() == "75.0"
    assert cli("config", "get", "backends.deepseek-vllm.model")[1].strip() == "org/model-x"
    assert cli("config", "get", "convert.dpi")[1].strip() == "200"
    text = path.read_text()
    assert "# written by hand: keep this line" in text
    assert "dpi = 200  # mine" in text


def test_set_with_explicit_config_file(tmp_path: Path) -> None:
    path = tmp_path / "project.toml"
    code, _, _ = cli("--config", str(path), "config", "set", "retry.max_attempts", "5")
    assert code == 0
    assert "max_attempts = 5" in path.read_text()
    assert cli("--config", str(path), "config", "get", "retry.max_attempts")[1].strip() == "5"
    assert not user_config_path().exists()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("convert.dpi", "high", "invalid setting convert.dpi: Input should be a valid integer"),
        ("backends.deepseek-vllm.bogus", "1", "backends.deepseek-vllm.bogus: unknown key"),
    ],
)
def test_bad_set_is_one_line_exit_2_and_file_untouched(key: str, value: str, expected: str) -> None:
    code, _, err = cli("config", "set", key, value)
    assert code == 2
    first = err.splitlines()[0]
    assert expected in first
    assert str(user_config_path()) in first
    assert not user_config_path().exists()


def test_validate_reports_the_file_and_key(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[convert]\ndpi = 200\n")
    code, out, _ = cli("config", "validate", str(good))
    assert code == 0 and f"ok: {good}" in out

    bad = tmp_path / "bad.toml"
    bad.write_text("[convert]\ndpi = 200\nspeed = 'max'\n")
    code, _, err = cli("config", "validate", str(bad))
    assert code == 2
    assert "convert.speed: unknown key" in err and str(bad) in err

    assert cli("config", "validate")[0] == 0


def test_unknown_get_key_exits_2() -> None:
    code, _, err = cli("config", "get", "convert.nothing")
    assert code == 2 and "unknown setting 'convert.nothing'" in err


def test_show_gives_sources_and_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setenv("DOCLING_HYBRID_CONVERT__DPI", "300")
    assert cli("config", "set", "retry.max_attempts", "4")[0] == 0

    code, out, err = cli("config", "show")
    assert code == 0
    lines = {line.split(" = ")[0]: line for line in out.splitlines() if " = " in line}
    assert lines["convert.dpi"].endswith("# env DOCLING_HYBRID_CONVERT__DPI")
    assert lines["retry.max_attempts"].endswith(f"# file {user_config_path()}")
    assert lines["convert.max_side"].endswith("# default")
    assert 'api_key_env = "OPENROUTER_API_KEY"' in lines["backends.nemotron-openrouter.api_key_env"]
    assert "(key: set, redacted)" in lines["backends.nemotron-openrouter.api_key_env"]

    code, json_out, json_err = cli("config", "show", "--json")
    payload = json.loads(json_out)
    assert payload["settings"]["convert.dpi"] == {
        "value": 300,
        "source": "env DOCLING_HYBRID_CONVERT__DPI",
    }
    assert payload["api_keys"]["OPENROUTER_API_KEY"] == "set"
    for text in (out, err, json_out, json_err):
        assert SECRET not in text


def test_show_without_key_says_not_set() -> None:
    _, out, _ = cli("config", "show")
    assert "(key: not set)" in out
