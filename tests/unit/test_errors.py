"""The exception tree stays honest: every class is used, and the core raises only its own errors.

These read the package's source with :mod:`ast` rather than running it, so a
class that nothing raises, or a bare ``RuntimeError`` in a code path no test
reaches, is still caught.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

import docling_hybrid_cli
from docling_hybrid_cli import errors
from docling_hybrid_cli.errors import DoclingHybridError, lookup_by_mro

PACKAGE = Path(docling_hybrid_cli.__file__).parent
ERRORS_PY = Path(errors.__file__)


def _tree() -> list[type[DoclingHybridError]]:
    found: list[type[DoclingHybridError]] = []
    pending: list[type[DoclingHybridError]] = [DoclingHybridError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(sub for sub in cls.__subclasses__() if sub.__module__ == errors.__name__)
    return sorted(found, key=lambda cls: cls.__name__)


def _modules(*, skip: tuple[Path, ...] = ()) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == ERRORS_PY or any(path.is_relative_to(folder) for folder in skip):
            continue
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _referenced_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _constructed_by(node: ast.AST) -> Iterator[str]:
    """Classes ``node`` calls (``X(...)``), raises (``raise X``) or lists as table values.

    A mapping table's values are constructed by the code that reads the table
    (``client.HTTPX_ERRORS``), so they count as raised.
    """
    if isinstance(node, ast.Call):
        targets: list[ast.AST] = [node.func]
    elif isinstance(node, ast.Raise) and node.exc is not None:
        targets = [node.exc]
    elif isinstance(node, ast.Dict):
        targets = [inner for value in node.values for inner in ast.walk(value)]
    else:
        return
    for target in targets:
        if name := _referenced_name(target):
            yield name


@functools.cache
def _uses() -> tuple[set[str], set[str]]:
    """Names constructed, and names referenced at all, outside errors.py."""
    constructed: set[str] = set()
    referenced: set[str] = set()
    for _, module in _modules():
        for node in ast.walk(module):
            constructed.update(_constructed_by(node))
            if isinstance(node, ast.Name | ast.Attribute) and (name := _referenced_name(node)):
                referenced.add(name)
    return constructed, referenced


@pytest.mark.parametrize("cls", _tree(), ids=lambda cls: cls.__name__)
def test_every_class_of_the_tree_is_used(cls: type[DoclingHybridError]) -> None:
    """A leaf is raised somewhere; a branch is raised or at least caught by its name.

    A class nobody raises is a promise the tool does not keep (``ConversionFailed``
    was one): callers would write ``except`` clauses that never fire.
    """
    constructed, referenced = _uses()
    if cls.__subclasses__():
        assert cls.__name__ in constructed | referenced, f"{cls.__name__} is never used"
    else:
        assert cls.__name__ in constructed, f"{cls.__name__} is never raised"


def test_the_tree_is_exported_whole() -> None:
    assert {cls.__name__ for cls in _tree()} <= set(errors.__all__)
    assert not hasattr(errors, "ConversionFailed")


def test_the_docstring_draws_the_tree_as_it_is() -> None:
    """The drawing in errors.py names every class, and only classes that exist."""
    drawn = {
        line.split("── ", 1)[1].split()[0]
        for line in (errors.__doc__ or "").splitlines()
        if "── " in line
    }
    assert drawn | {"DoclingHybridError"} == {cls.__name__ for cls in _tree()}


def _bare_runtime_errors(module: ast.Module) -> Iterator[int]:
    for node in ast.walk(module):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if _referenced_name(target) == "RuntimeError":
            yield node.lineno


def test_nothing_outside_the_cli_raises_a_bare_runtime_error() -> None:
    """Misuse of an object is a ValueError; a failure the user must see is one of ours.

    A bare RuntimeError reaches the user as a traceback, because the CLI's
    error funnel only knows the tree in errors.py.
    """
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path, module in _modules(skip=(PACKAGE / "cli",))
        for line in _bare_runtime_errors(module)
    ]
    assert not offenders, "bare RuntimeError raised at " + ", ".join(offenders)


def test_lookup_by_mro_prefers_the_most_specific_entry() -> None:
    class Base(Exception):
        pass

    class Middle(Base):
        pass

    class Leaf(Middle):
        pass

    table: dict[type[BaseException], str] = {Base: "base", Middle: "middle"}
    assert lookup_by_mro(table, Leaf) == "middle"
    assert lookup_by_mro(table, Base) == "base"
    assert lookup_by_mro(table, ValueError) is None
