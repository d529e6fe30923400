"""``check-server`` end to end: the real CLI against the project's mock server on 127.0.0.1.

Each scenario of issue #4 gets its exit code and its one-line reason, and no
traceback: healthy, loading (``--wait`` turns green), dead port, wrong model,
missing or planted OpenRouter key.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockConfig, MockServer

SECRET = "sk-or-PLANTED-SECRET"
MODEL = "deepseek-ai/DeepSeek-OCR"


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, url: str, chain: str = '["deepseek-vllm"]') -> Path:
    path.write_text(
        "[backends]\n"
        f"fallback_chain = {chain}\n"
        "[backends.deepseek-vllm]\n"
        f'base_url = "{url}/v1"\n'
        "[backends.nemotron-openrouter]\n"
        f'base_url = "{url}/api/v1"\n'
    )
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", str(config), "check-server", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key=None)) as mock:
        yield mock


def test_healthy_server_is_ready(tmp_path: Path, server: MockServer) -> None:
    config = write_config(tmp_path / "c.toml", server.url)

    code, out, _ = run(config)

    assert code == 0
    assert f"✓ DeepSeek vLLM server is healthy at {server.url}" in out
    assert f"Model: {MODEL}" in out
    assert "Status: Ready" in out


def test_dead_port_fails_with_reason_and_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", f"http://127.0.0.1:{free_port()}")

    code, out, _ = run(config, "--backend", "deepseek-vllm")

    assert code == 1
    assert "Reason: nothing answers at http://127.0.0.1:" in out
    assert "connection refused" in out
    assert "Fix: start it with scripts/start_vllm_deepseek.sh" in out


def test_loading_server_turns_green_with_wait(tmp_path: Path) -> None:
    with MockServer(MockConfig(start_delay_s=1.0)) as mock:
        config = write_config(tmp_path / "c.toml", mock.url)
        code, out, _ = run(config)
        assert code == 1
        assert "connection refused" in out

        code, out, err = run(config, "--wait", "15")

    assert code == 0, out
    assert "Status: Ready" in out
    assert "waiting for deepseek-vllm" in err
    assert "Waited:" in out


def test_wrong_model_names_what_is_served(tmp_path: Path) -> None:
    with MockServer(MockConfig(model="someone/else")) as mock:
        config = write_config(tmp_path / "c.toml", mock.url)
        code, out, _ = run(config)

    assert code == 1
    assert f"model '{MODEL}' is not served (serves: someone/else)" in out
    assert "config set backends.deepseek-vllm.model someone/else" in out


def test_missing_openrouter_key_says_set_it(tmp_path: Path, server: MockServer) -> None:
    config = write_config(tmp_path / "c.toml", server.url)

    code, out, _ = run(config, "--backend", "nemotron-openrouter")

    assert code == 1
    assert "Reason: OPENROUTER_API_KEY is not set" in out
    assert "export OPENROUTER_API_KEY=" in out


def test_all_prints_a_table_and_json_is_only_json(
    tmp_path: Path, server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    config = write_config(
        tmp_path / "c.toml", server.url, '["deepseek-vllm", "nemotron-openrouter", "text-layer"]'
    )

    code, out, _ = run(config, "--all")
    assert code == 0, out
    assert "3 of 3 backends ready" in out
    assert "text-layer" in out and "nemotron-openrouter" in out

    code, out, _ = run(config, "--all", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["ready"] is True
    assert [b["backend"] for b in payload["backends"]] == [
        "deepseek-vllm",
        "nemotron-openrouter",
        "text-layer",
    ]
    assert payload["backends"][1]["key"]["free_model_daily_requests"]["limit"] == 50


def test_one_failure_among_all_exits_1(tmp_path: Path, server: MockServer) -> None:
    config = write_config(
        tmp_path / "c.toml", server.url, '["deepseek-vllm", "nemotron-openrouter"]'
    )

    code, out, _ = run(config, "--all")

    assert code == 1
    assert "1 of 2 backends ready" in out
    assert "✗ nemotron-openrouter: OPENROUTER_API_KEY is not set" in out


def test_probe_sends_a_rendered_page(tmp_path: Path, server: MockServer) -> None:
    config = write_config(tmp_path / "c.toml", server.url)

    code, out, _ = run(config, "--probe")

    assert code == 0, out
    assert "Probe: 1 page in" in out
    assert server.stats.chat_requests == 2  # the n-gram guard check (refused), then the page
    assert server.stats.chat_ok == 1


def test_unknown_backend_is_a_usage_error(tmp_path: Path, server: MockServer) -> None:
    config = write_config(tmp_path / "c.toml", server.url)

    code, _, err = run(config, "--backend", "nope")

    assert code == 2
    assert "unknown backend 'nope'" in err


def test_planted_key_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is used (the server demands it) but appears in no output, plain or JSON."""
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    with MockServer(MockConfig(api_key=SECRET)) as mock:
        config = write_config(
            tmp_path / "c.toml", mock.url, '["deepseek-vllm", "nemotron-openrouter"]'
        )
        outputs = []
        for args in (
            ["--backend", "nemotron-openrouter"],
            ["--backend", "nemotron-openrouter", "--json"],
            ["--all"],
            ["--all", "--json"],
        ):
            _, out, err = run(config, *args)
            outputs.append(out + err)
        for args in (["config", "show"], ["config", "show", "--json"]):
            result = CliRunner().invoke(app, ["--config", str(config), *args])
            assert result.exit_code == 0
            outputs.append(result.stdout + result.stderr)

    assert "accepts the key" in outputs[0]
    assert "(key: set, redacted)" in outputs[4]
    for text in outputs:
        assert SECRET not in text


def test_base_url_and_model_flags_check_another_server(tmp_path: Path, server: MockServer) -> None:
    """As with `convert`, --base-url/--model override the config for the one backend checked."""
    config = write_config(tmp_path / "c.toml", f"http://127.0.0.1:{free_port()}")

    code, out, _ = run(config, "--base-url", f"{server.url}/v1/chat/completions", "--model", MODEL)
    assert code == 0
    assert f"healthy at {server.url}" in out

    code, out, _ = run(config, "--base-url", f"{server.url}/v1", "--model", "other/model")
    assert code == 1
    assert "other/model" in out


def test_base_url_with_all_is_a_usage_error(tmp_path: Path, server: MockServer) -> None:
    config = write_config(tmp_path / "c.toml", server.url)
    code, _, err = run(config, "--all", "--base-url", f"{server.url}/v1")
    assert code == 2
    assert "drop --all" in err


def test_vllm_without_the_ngram_processor_is_misconfigured(tmp_path: Path) -> None:
    """The guard would be silently ignored: not ready, and the fix names the serve flag."""
    with MockServer(MockConfig(ngram_processor=False)) as mock:
        config = write_config(tmp_path / "c.toml", mock.url)
        code, out, _ = run(config)
        _, as_json, _ = run(config, "--json")

    assert code == 1
    assert "Repetition guard: MISSING" in out
    assert "without DeepSeek's n-gram logits processor" in out
    assert "--logits-processors" in out and "NGramPerReqLogitsProcessor" in out
    assert json.loads(as_json)["backends"][0]["ngram_guard"] is False


def test_vllm_with_the_ngram_processor_says_so(tmp_path: Path, server: MockServer) -> None:
    config = write_config(tmp_path / "c.toml", server.url)

    code, out, _ = run(config)

    assert code == 0
    assert "Repetition guard: active" in out


def test_a_server_warming_up_is_unhealthy_and_the_fix_says_wait(tmp_path: Path) -> None:
    with MockServer(MockConfig(warmup_s=600)) as mock:
        config = write_config(tmp_path / "c.toml", mock.url)
        code, out, _ = run(config)

    assert code == 1
    assert "/health answered 503: the server is still warming up" in out
    assert "add --wait 600" in out


def test_a_server_warming_up_is_waited_for(tmp_path: Path) -> None:
    """SGLang's 503 while warming keeps --wait waiting instead of reporting it dead."""
    with MockServer(MockConfig(warmup_s=1.5)) as mock:
        config = write_config(tmp_path / "c.toml", mock.url)
        code, out, err = run(config, "--wait", "15")

    assert code == 0, out
    assert "Status: Ready" in out
    assert "waiting for deepseek-vllm" in err


def test_openrouter_model_id_that_does_not_exist(
    tmp_path: Path, server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    config = write_config(tmp_path / "c.toml", server.url)

    code, out, _ = run(
        config, "--backend", "nemotron-openrouter", "--model", "nvidia/nemotron-nano-12b-vl:free"
    )

    assert code == 1
    assert "OpenRouter has no model 'nvidia/nemotron-nano-12b-vl:free'" in out
    assert "did you mean 'nvidia/nemotron-nano-12b-v2-vl:free'" in out


def test_openrouter_model_hidden_by_the_accounts_privacy_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    paid_only = MockConfig(api_key=SECRET, key_models=("nvidia/nemotron-nano-12b-v2-vl",))
    with MockServer(paid_only) as mock:
        config = write_config(tmp_path / "c.toml", mock.url)
        code, out, _ = run(config, "--backend", "nemotron-openrouter")

    assert code == 1
    assert "is not available to this key" in out
    assert "https://openrouter.ai/settings/privacy" in out
    assert SECRET not in out
