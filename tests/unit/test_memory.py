"""memory.pin_mmap_threshold: the glibc tuning behind flat RSS on long runs (target 3)."""

from __future__ import annotations

import platform
import sys

import pytest

from docling_hybrid_cli import memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_pins_once_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first call sets the threshold; later calls are no-ops that still report success."""
    monkeypatch.setattr(memory, "_done", False)
    assert memory.pin_mmap_threshold() is True
    assert memory.pin_mmap_threshold() is True


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux nothing is called and the caller learns nothing was set."""
    monkeypatch.setattr(memory, "_done", False)
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.pin_mmap_threshold() is False
