"""``convert --skip-existing`` over a folder: finished documents cost no request.

Half of a folder's documents are converted; their outputs stay, the others'
are deleted. The re-run with ``--skip-existing`` must send requests for the
other half's pages only, convert them, and count the skipped documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.manifest import MANIFEST_NAME
from docling_hybrid_cli.sim import MockConfig, MockServer

PAGES = {"a": 2, "b": 3, "c": 4, "d": 5}


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(style="plain")) as mock:
        yield mock


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    for name, pages in PAGES.items():
        where = folder / "sub" if name == "d" else folder
        make_pdf(where / f"{name}.pdf", pages)
    return folder


def convert(server: MockServer, *args: str) -> tuple[int, str, dict[str, object]]:
    result = CliRunner().invoke(
        app,
        [
            "convert",
            "corpus",
            "-o",
            "out",
            "--backend",
            "deepseek-vllm",
            "--base-url",
            f"{server.url}/v1",
            "--json",
            *args,
        ],
    )
    return result.exit_code, result.stderr, json.loads(result.stdout)


def outputs(root: Path) -> dict[str, Path]:
    return {
        "a": root / "out" / "a.md",
        "b": root / "out" / "b.md",
        "c": root / "out" / "c.md",
        "d": root / "out" / "sub" / "d.md",
    }


def test_skip_existing_sends_requests_only_for_the_unfinished_half(
    tmp_path: Path, corpus: Path, server: MockServer
) -> None:
    code, _, _ = convert(server)
    assert code == 0
    assert server.stats.chat_requests == sum(PAGES.values())
    assert (tmp_path / "out" / MANIFEST_NAME).is_file()
    assert (tmp_path / "out" / "sub" / MANIFEST_NAME).is_file()
    done = outputs(tmp_path)
    kept = {name: done[name].read_bytes() for name in ("a", "c")}
    for name in ("b", "d"):
        done[name].unlink()
    server.reset_stats()

    code, stderr, summary = convert(server, "--skip-existing")

    assert code == 0
    assert server.stats.chat_requests == PAGES["b"] + PAGES["d"]
    assert sorted(Path(p).name for p in summary["skipped"]) == ["a.pdf", "c.pdf"]  # type: ignore[union-attr]
    assert sorted(Path(d["input"]).name for d in summary["documents"]) == ["b.pdf", "d.pdf"]  # type: ignore[index, union-attr]
    assert "2 documents converted, 2 skipped (already done), 0 unreadable" in stderr
    assert all(path.is_file() for path in done.values())
    assert {name: done[name].read_bytes() for name in ("a", "c")} == kept  # untouched

    server.reset_stats()
    code, stderr, _ = convert(server, "--skip-existing")
    assert code == 0 and server.stats.chat_requests == 0
    assert "0 documents converted, 4 skipped" in stderr


def test_without_the_flag_or_with_other_settings_nothing_is_skipped(
    tmp_path: Path, corpus: Path, server: MockServer
) -> None:
    assert convert(server)[0] == 0
    server.reset_stats()
    code, _, summary = convert(server)  # no --skip-existing: a plain re-run redoes all
    assert code == 0 and summary["skipped"] == []
    assert server.stats.chat_requests == sum(PAGES.values())

    server.reset_stats()
    code, _, summary = convert(server, "--skip-existing", "--dpi", "100")
    assert code == 0 and summary["skipped"] == []
    assert server.stats.chat_requests == sum(PAGES.values())


def test_a_document_with_failed_pages_is_converted_again(tmp_path: Path, corpus: Path) -> None:
    """Pages that failed make a document unfinished: --skip-existing does not skip it."""
    with MockServer(MockConfig(style="plain", fail_rate=1.0, faults=("404",))) as broken:
        code, _, _ = convert(broken, "--chain", "deepseek-vllm", "--pages", "1")
    assert code == 1
    with MockServer(MockConfig(style="plain")) as healthy:
        code, _, summary = convert(healthy, "--skip-existing", "--pages", "1")
        assert code == 0 and summary["skipped"] == []
        assert healthy.stats.chat_requests == len(PAGES)


def test_a_single_skipped_file_says_so(tmp_path: Path, server: MockServer) -> None:
    make_pdf(tmp_path / "one.pdf", 2)
    args = ["convert", str(tmp_path / "one.pdf"), "--base-url", f"{server.url}/v1"]
    assert CliRunner().invoke(app, [*args, "--backend", "deepseek-vllm"]).exit_code == 0
    server.reset_stats()
    again = CliRunner().invoke(app, [*args, "--backend", "deepseek-vllm", "--skip-existing"])
    assert again.exit_code == 0
    assert server.stats.chat_requests == 0
    assert "is up to date (--skip-existing)" in again.stderr


def test_a_missing_docling_json_is_not_skipped(
    corpus: Path, server: MockServer, tmp_path: Path
) -> None:
    """With --to json, a document whose .json is gone is converted again."""
    pytest.importorskip("docling_core")
    code, _, _ = convert(server, "--to", "md", "--to", "json")
    assert code == 0
    (tmp_path / "out" / "a.json").unlink()
    before = server.stats.chat_ok
    code, _, _ = convert(server, "--to", "md", "--to", "json", "--skip-existing")
    assert code == 0
    assert server.stats.chat_ok - before == PAGES["a"]
    assert (tmp_path / "out" / "a.json").is_file()
