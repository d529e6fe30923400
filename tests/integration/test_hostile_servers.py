"""A hostile or broken primary server: every run ends, no traceback, pages from the next backend.

Each transport-level mode answers *every* request of the primary, so the page
must move on to the backup; each content mode is a usable page and must be
converted by the primary itself, cleaned.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockConfig, MockServer
from docling_hybrid_cli.sim.hostile import CONTENT_KINDS, HOSTILE_KINDS

MODEL = MockConfig().model


def _config(tmp_path: Path, primary: str, backup: str) -> Path:
    text = f"""
[backends]
default = "deepseek-vllm"
fallback_chain = ["deepseek-vllm", "backup"]

[backends.deepseek-vllm]
base_url = "{primary}/v1"
model = "{MODEL}"
timeout_s = 1.5
max_response_mb = 4

[backends.backup]
kind = "openai-compatible"
base_url = "{backup}/v1"
model = "{MODEL}"
"""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _convert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, primary: MockServer, backup: MockServer
) -> tuple[int, str, str]:
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_INITIAL_S", "0")
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_MAX_S", "0")
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__MAX_ATTEMPTS", "2")
    pdf = make_pdf(tmp_path / "doc.pdf", 2)
    out = tmp_path / "doc.md"
    config = _config(tmp_path, primary.url, backup.url)
    result = CliRunner().invoke(
        app, ["--config", str(config), "convert", "--no-cache", str(pdf), "-o", str(out)]
    )
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    markdown = out.read_text(encoding="utf-8") if out.exists() else ""
    return result.exit_code, result.output, markdown


@pytest.mark.parametrize("kind", sorted(HOSTILE_KINDS - CONTENT_KINDS))
def test_transport_level_hostility_sends_the_page_to_the_next_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    hostile = MockConfig(fail_rate=1.0, faults=(kind,), hostile_mb=16, drip_s=0.2, style="deepseek")
    with MockServer(hostile) as primary, MockServer(MockConfig(style="plain")) as backup:
        code, output, markdown = _convert(tmp_path, monkeypatch, primary, backup)
        assert primary.stats.faults_injected.get(kind, 0) >= 2  # both pages met it
        assert backup.stats.chat_ok == 2
    assert code == 0, output
    assert len(re.findall(r"^# Page \d+x\d+$", markdown, flags=re.M)) == 2


@pytest.mark.parametrize("kind", sorted(CONTENT_KINDS))
def test_hostile_content_is_cleaned_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    hostile = MockConfig(fail_rate=1.0, faults=(kind,), style="plain")
    with MockServer(hostile) as primary, MockServer(MockConfig(style="plain")) as backup:
        code, output, markdown = _convert(tmp_path, monkeypatch, primary, backup)
        assert backup.stats.chat_ok == 0
    assert code == 0, output
    assert len(re.findall(r"# Page \d+x\d+", markdown)) == 2
    assert "<|" not in markdown
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", markdown + output)
