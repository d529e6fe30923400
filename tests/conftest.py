"""Shared test setup.

Every test is isolated from the machine it runs on: its own config dir, no
API keys, no proxies, no ``DOCLING_HYBRID_*`` variables. ``tests/`` is on
``sys.path`` so tests can ``from pdfgen import make_pdf``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from docling_hybrid_cli.redact import forget_secrets

sys.path.insert(0, str(Path(__file__).parent))

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

_SCRUB_PREFIXES = ("DOCLING_HYBRID_", "OPENROUTER_", "OPENAI_", "VLLM_")
_SCRUB_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Keys one test registered for redaction do not redact another test's output."""
    yield
    forget_secrets()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's config, keys or proxy settings."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(_SCRUB_PREFIXES) or upper in _SCRUB_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def corpus() -> Path:
    """The shared real-world PDFs (read-only)."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def mock_server() -> Iterator[object]:
    """A fresh loopback OpenAI-compatible server (the project's own mock)."""
    from docling_hybrid_cli.sim import MockServer

    with MockServer() as server:
        yield server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-e2e",
        action="store_true",
        default=False,
        help="run tests/e2e against a real vLLM (URL from DOCLING_HYBRID_E2E_URL)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``e2e`` tests need a real server: skipped unless --run-e2e or DOCLING_HYBRID_E2E_URL."""
    if config.getoption("--run-e2e") or os.environ.get("DOCLING_HYBRID_E2E_URL"):
        return
    reason = "needs a real vLLM: pass --run-e2e or set DOCLING_HYBRID_E2E_URL"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)
