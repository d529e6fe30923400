"""The deployment files: compose + Prometheus YAML, the shell scripts, the recipe flags.

One list, :data:`RECIPE_FLAGS`, is the DeepSeek-OCR serve recipe as
docs/DEPLOYMENT_VLLM.md documents it; the compose file, the start script and
every ``vllm serve`` / ``docker run`` example in the docs must carry it.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
COMPOSE = ROOT / "configs" / "docker-compose.vllm.yml"
PROMETHEUS = ROOT / "configs" / "prometheus.yml"
DEPLOYMENT_DOC = ROOT / "docs" / "DEPLOYMENT_VLLM.md"

NGRAM_PROCESSOR = "vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor"
RECIPE_FLAGS: list[tuple[str, str | None]] = [
    ("--logits-processors", NGRAM_PROCESSOR),
    ("--no-enable-prefix-caching", None),
    ("--mm-processor-cache-gb", "0"),
]
SERVE_FLAGS: list[tuple[str, str | None]] = [
    *RECIPE_FLAGS,
    ("--served-model-name", "deepseek-ai/DeepSeek-OCR"),
    ("--max-model-len", "8192"),
]


def _flag_pairs(tokens: list[str]) -> dict[str, str | None]:
    """``--a b --c --d=e`` → {"--a": "b", "--c": None, "--d": "e"}."""
    pairs: dict[str, str | None] = {}
    for i, token in enumerate(tokens):
        if not token.startswith("--"):
            continue
        if "=" in token:
            key, value = token.split("=", 1)
            pairs[key] = value
        else:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            pairs[token] = None if nxt is None or nxt.startswith("--") else nxt
    return pairs


def _assert_flags(tokens: list[str], flags: list[tuple[str, str | None]], where: str) -> None:
    pairs = _flag_pairs(tokens)
    for flag, value in flags:
        assert flag in pairs, f"{where}: missing {flag}"
        if value is not None:
            assert pairs[flag] == value, f"{where}: {flag} is {pairs[flag]!r}, not {value!r}"


# ---- YAML


def test_compose_file_parses_and_serves_deepseek_with_the_recipe() -> None:
    compose = yaml.safe_load(COMPOSE.read_text("utf-8"))
    vllm = compose["services"]["vllm"]
    assert vllm["entrypoint"] == ["vllm", "serve"]
    command = [str(part) for part in vllm["command"]]
    assert command[0] == "deepseek-ai/DeepSeek-OCR"
    defaults = [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", part) for part in command]
    _assert_flags(defaults, SERVE_FLAGS, "compose command")
    assert _flag_pairs(defaults)["--host"] == "0.0.0.0"


def test_compose_file_operational_settings() -> None:
    compose = yaml.safe_load(COMPOSE.read_text("utf-8"))
    vllm = compose["services"]["vllm"]
    assert vllm["restart"] == "unless-stopped"
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    assert vllm["healthcheck"]["start_period"].endswith("s")
    assert vllm["logging"]["driver"] == "json-file"
    assert {"max-size", "max-file"} <= set(vllm["logging"]["options"])
    assert any(v.endswith(":/root/.cache/huggingface") for v in vllm["volumes"])
    assert "hf-cache" in compose["volumes"]
    gpu = vllm["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    # Bound to loopback unless the operator says otherwise: vLLM has no auth by default.
    assert vllm["ports"][0].startswith("${VLLM_BIND:-127.0.0.1}:")
    assert not vllm["image"].endswith(":latest")


def test_prometheus_is_optional_and_scrapes_vllm() -> None:
    compose = yaml.safe_load(COMPOSE.read_text("utf-8"))
    prom = compose["services"]["prometheus"]
    assert prom["profiles"] == ["monitoring"]
    assert any(v.startswith("./prometheus.yml:") for v in prom["volumes"])
    config = yaml.safe_load(PROMETHEUS.read_text("utf-8"))
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["vllm:8000"]


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker not installed")
def test_docker_compose_accepts_the_file() -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not installed")
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--profile", "monitoring", "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


# ---- shell scripts


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_syntax(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script: Path) -> None:
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _start_script(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "start_vllm_deepseek.sh")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_start_script_uses_the_recipe_flags() -> None:
    done = _start_script(DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    tokens = shlex.split(done.stdout)
    assert tokens[:3] == ["vllm", "serve", "deepseek-ai/DeepSeek-OCR"]
    _assert_flags(tokens, SERVE_FLAGS, "start_vllm_deepseek.sh")
    assert _flag_pairs(tokens)["--port"] == "8000"


def test_start_script_port_model_and_cpu_mode() -> None:
    done = _start_script(
        DRY_RUN="1", PORT="8765", MODEL="/models/ocr", DEVICE="cpu", VLLM_PYTHON="/venv/python"
    )
    assert done.returncode == 0, done.stderr
    tokens = shlex.split(done.stdout)
    assert tokens[:4] == ["/venv/python", "-m", "vllm.entrypoints.openai.api_server", "--model"]
    pairs = _flag_pairs(tokens)
    assert pairs["--model"] == "/models/ocr"
    assert pairs["--port"] == "8765"
    assert pairs["--dtype"] == "float32" and "--enforce-eager" in pairs
    assert "--gpu-memory-utilization" not in pairs
    _assert_flags(tokens, RECIPE_FLAGS, "start_vllm_deepseek.sh (cpu)")


@pytest.mark.parametrize(
    ("env", "code", "text"),
    [
        ({"PORT": "http"}, 2, "PORT must be"),
        ({"DEVICE": "tpu"}, 2, "DEVICE must be"),
        ({"PATH": "/nonexistent"}, 3, "nvidia-smi not found"),
    ],
)
def test_start_script_refuses_bad_settings_and_missing_gpu(
    env: dict[str, str], code: int, text: str
) -> None:
    done = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "start_vllm_deepseek.sh")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == code, done.stderr
    assert text in done.stderr


# ---- check_vllm_health.sh against a stub server


class _Stub(http.server.BaseHTTPRequestHandler):
    health_status = 200
    models: object = {"data": [{"id": "deepseek-ai/DeepSeek-OCR", "max_model_len": 8192}]}

    def do_GET(self) -> None:
        if self.path == "/health":
            self.send_response(self.health_status)
            self.end_headers()
            return
        if self.path == "/v1/models":
            body = json.dumps(self.models).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    handler = type("Handler", (_Stub,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _health(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "check_vllm_health.sh"), *args],
        env={"PATH": os.environ["PATH"], "NO_PROXY": "*", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_health_script_ok(stub: tuple[str, type[_Stub]]) -> None:
    url, _ = stub
    done = _health(url + "/v1")
    assert done.returncode == 0, done.stderr
    assert "serves deepseek-ai/DeepSeek-OCR (max_model_len 8192)" in done.stdout


def test_health_script_down() -> None:
    done = _health("http://127.0.0.1:9")
    assert done.returncode == 1
    assert "DOWN" in done.stderr


def test_health_script_engine_dead(stub: tuple[str, type[_Stub]]) -> None:
    url, handler = stub
    handler.health_status = 503
    done = _health(url)
    assert done.returncode == 2
    assert "HTTP 503" in done.stderr


def test_health_script_wrong_model(stub: tuple[str, type[_Stub]]) -> None:
    url, _ = stub
    done = _health(url, MODEL="other/model")
    assert done.returncode == 3
    assert "does not list 'other/model'" in done.stderr


def test_health_script_usage_error() -> None:
    assert _health("--wait", "soon").returncode == 64


# ---- the docs show the same recipe


def _doc_blocks(path: Path) -> list[str]:
    return re.findall(r"```(?:bash|sh|shell)\n(.*?)```", path.read_text("utf-8"), re.S)


def _commands(block: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            commands.append(shlex.split(line))
    return commands


def test_deployment_doc_serve_commands_carry_the_recipe() -> None:
    if not DEPLOYMENT_DOC.exists():
        pytest.skip("docs/DEPLOYMENT_VLLM.md not written yet")
    serve_commands = [
        tokens
        for block in _doc_blocks(DEPLOYMENT_DOC)
        for tokens in _commands(block)
        if "deepseek-ai/DeepSeek-OCR" in tokens
        and (tokens[:2] == ["vllm", "serve"] or tokens[:2] == ["docker", "run"])
    ]
    assert serve_commands, "the deployment doc shows no vllm serve / docker run command"
    for tokens in serve_commands:
        _assert_flags(tokens, RECIPE_FLAGS, " ".join(tokens[:2]) + " in DEPLOYMENT_VLLM.md")
