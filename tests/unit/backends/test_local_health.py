"""Backends without a server: ready unless the program they run is missing."""

from __future__ import annotations

import pytest
from health_support import (
    check,
)

from docling_hybrid_cli.backend_configs import backend_config


def test_text_layer_is_always_ready() -> None:
    report = check(backend_config(name="text-layer", kind="text-layer"))
    assert report.ready and report.state == "ready"


def test_tesseract_ready_only_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    config = backend_config(name="tesseract", kind="tesseract")
    monkeypatch.setattr("shutil.which", lambda name: None)
    missing = check(config)
    assert missing.state == "misconfigured"
    assert missing.hint is not None and "apt-get install tesseract-ocr" in missing.hint

    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/tesseract")
    assert check(config).ready
