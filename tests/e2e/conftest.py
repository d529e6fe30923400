"""Fixtures for end-to-end tests against a real vLLM serving DeepSeek-OCR.

The server's root URL comes from ``DOCLING_HYBRID_E2E_URL`` (default
``http://localhost:8000`` when only ``--run-e2e`` is given). It is read here,
at collection time, because the autouse fixture in ``tests/conftest.py``
removes every ``DOCLING_HYBRID_*`` variable before each test runs.

The tests assert the protocol, not the OCR: ``scripts/e2e_vllm.sh`` runs
them against a random-weight model whose text is noise and which never stops
on its own. Against a real DeepSeek-OCR they pass too (pages then convert).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import CLI_ENV, E2E_URL, MODEL, CliRun, Server  # type: ignore[import-not-found]


@pytest.fixture(scope="session")
def server() -> Server:
    """Fails (not skips) when e2e tests were asked for and the server is not there."""
    try:
        health = httpx.get(f"{E2E_URL}/health", timeout=10)
        models = httpx.get(f"{E2E_URL}/v1/models", timeout=10)
    except httpx.HTTPError as exc:
        pytest.fail(f"no vLLM at {E2E_URL} ({exc}); set DOCLING_HYBRID_E2E_URL")
    assert health.status_code == 200, f"/health answered {health.status_code}"
    assert models.status_code == 200, f"/v1/models answered {models.status_code}"
    cards = {card["id"]: card for card in models.json()["data"]}
    assert MODEL in cards, f"{MODEL} not served (served: {sorted(cards)})"
    return Server(url=E2E_URL, model=MODEL, max_model_len=int(cards[MODEL]["max_model_len"]))


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "docling-hybrid-ocr"
    if script.exists():
        return [str(script)]
    found = shutil.which("docling-hybrid-ocr")
    return [found] if found else [sys.executable, "-m", "docling_hybrid_cli"]


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[Any]:
    """Run the installed CLI in a subprocess with a clean, e2e-sized environment."""

    def run(
        *args: str, timeout: float = 900, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "NO_PROXY": "*",
            **CLI_ENV,
            **(env or {}),
        }
        return subprocess.run(
            [*_cli(), *args], env=full_env, capture_output=True, text=True, timeout=timeout
        )

    yield run


@pytest.fixture
def convert(run_cli: Any, server: Server, tmp_path: Path) -> Any:
    """``docling-hybrid-ocr convert PDF`` against the server, with a JSON report."""

    def go(pdf: Path) -> CliRun:
        import json

        out = tmp_path / f"{pdf.stem}.md"
        report = tmp_path / f"{pdf.stem}.report.json"
        done = run_cli(
            "convert",
            str(pdf),
            "-o",
            str(out),
            "--backend",
            "deepseek-vllm",
            "--base-url",
            server.api,
            "--report",
            str(report),
        )
        return CliRun(
            returncode=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            report=json.loads(report.read_text("utf-8")) if report.exists() else None,
            markdown=out.read_text("utf-8") if out.exists() else "",
        )

    return go
