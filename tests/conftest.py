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

sys.path.insert(0, str(Path(__file__).parent))

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

_SCRUB_PREFIXES = ("DOCLING_HYBRID_", "OPENROUTER_", "OPENAI_", "VLLM_")
_SCRUB_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


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
    from docling_hybrid_cli.mockserver import MockServer

    with MockServer() as server:
        yield server
