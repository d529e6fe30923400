"""Every command refuses to send a secret over plain HTTP off the machine: exit 2, one line.

The host is unresolvable (``*.invalid``): had any request been attempted the
command would fail differently (a connect error, exit 1), so exit 2 with the
refusal proves the guard ran first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app

KEY = "sk-or-v1-PLANTED-SECRET-0123456789"
URL = "http://openrouter.invalid/api/v1"
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.pdf"

COMMANDS = {
    "convert": ["convert", str(SAMPLE), "-o", "out.md"],
    "check-server": ["check-server"],
    "benchmark": ["benchmark", "--real", "--pages", "1", "--concurrency", "1"],
}


def _config(tmp_path: Path, secret: str) -> Path:
    table = "[backends.nemotron-openrouter]\n"
    if secret == "header":
        table += f'headers = {{ "X-Api-Key" = "{KEY}" }}\n'
    elif secret == "headers_env":
        table += 'headers_env = { "Authorization" = "MY_PROXY_TOKEN" }\n'
    path = tmp_path / "config.toml"
    path.write_text(table, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("secret", ["env key", "header", "headers_env"])
def test_secret_over_plain_http_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, secret: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    if secret == "env key":
        monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    elif secret == "headers_env":
        monkeypatch.setenv("MY_PROXY_TOKEN", KEY)
    config = _config(tmp_path, secret)
    args = ["--config", str(config), *COMMANDS[command]]
    args += ["--backend", "nemotron-openrouter", "--base-url", URL]
    result = CliRunner().invoke(app, args)
    output = result.output
    assert result.exit_code == 2, output
    assert "over plain HTTP to openrouter.invalid" in output
    assert "allow_insecure_http" in output
    assert KEY not in output
    assert "Traceback" not in output


def test_config_show_never_echoes_a_secret_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "header")
    result = CliRunner().invoke(app, ["--config", str(config), "config", "show"])
    assert result.exit_code == 0, result.output
    assert KEY not in result.output
    assert "X-Api-Key" in result.output
