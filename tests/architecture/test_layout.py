"""The package's shape, checked: what each module may know and how big it may grow.

These are the rules the code review asks for, made executable so they hold
after the reviewer has left: backend families are known only in
``backends/`` and the config models, the health coordinator imports no
concrete backend, no module grows into a monolith, and comments stand on
their own (no citations of documents outside the repository).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "docling_hybrid_cli"
MODULES = sorted(PACKAGE.rglob("*.py"))
FAMILY_AWARE = ("backends/", "settings.py", "backend_configs.py", "sim/")
MAX_LINES = 450


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _is_kind(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
        isinstance(node, ast.Name) and node.id == "kind"
    )


def _kind_tests(tree: ast.AST) -> list[int]:
    """Lines that compare a ``kind`` or call a string method on it."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Compare)
            and any(_is_kind(side) for side in [node.left, *node.comparators])
        ) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and _is_kind(node.func.value)
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_kind_branching_outside_backends(path: Path) -> None:
    """Callers ask a backend (or its config model) what it can do instead of testing ``kind``."""
    if _rel(path).startswith(FAMILY_AWARE):
        pytest.skip("knows backend families by design")
    assert not _kind_tests(ast.parse(path.read_text("utf-8"))), _rel(path)


def test_the_kind_check_catches_branching() -> None:
    code = (
        "a = cfg.kind == 'x'\nb = kind in ('y',)\nc = cfg.kind.startswith('d')\nd = 'kind in x'\n"
    )
    assert _kind_tests(ast.parse(code)) == [1, 2, 3]


def test_health_imports_no_concrete_backend() -> None:
    tree = ast.parse((PACKAGE / "health.py").read_text("utf-8"))
    imported = {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level > 0
    }
    assert not {m for m in imported if m.startswith("backends.")}, imported


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text("utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_rel(path)} has {lines} lines; split it by job"


CITATION = re.compile(
    r"§|\b(backends|perf|peers|style|DESIGN|vllm-cpu)\.md\b|(?<![-\w])reference/|\.\./shared"
    r"|on this VM"
)


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_comments_cite_nothing_outside_the_repository(path: Path) -> None:
    """State the fact (and link the public source); measurements go to docs/PERFORMANCE.md."""
    hits = [line.strip() for line in path.read_text("utf-8").splitlines() if CITATION.search(line)]
    assert not hits, hits
