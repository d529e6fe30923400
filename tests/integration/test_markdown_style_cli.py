"""`convert --tables/--math` end to end against the simulated DeepSeek-OCR server.

The simulated model writes each page the way DeepSeek-OCR does: a figure with its ``<center>``
caption, an empty ``table`` block followed by the caption block holding the caption and an
HTML table with a rowspan, and ``\\(``-math in a cell. The style is applied when the Markdown
is written, so a re-run in another style re-renders checkpointed pages without a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner, Result

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockServer

Invoke = Callable[..., Result]
PIPE_TABLE = "Table 1: the page's cells\n\n| a | b |\n| --- | --- |\n| a | $x^2$ |"
HTML_TABLE = '<table><tr><td rowspan="2">a</td><td>b</td></tr><tr><td>\\(x^2\\)</td></tr></table>'


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Invoke:
    """Run the CLI in-process from tmp_path; retries do not back off."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_INITIAL_S", "0")
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_MAX_S", "0")

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(app, [str(a) for a in args])

    return run


def convert_args(server: MockServer, *extra: str | Path) -> list[str]:
    return [
        "convert",
        *map(str, extra),
        "--base-url",
        f"{server.url}/v1",
        "--backend",
        "deepseek-vllm",
    ]


def checkpoints(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "xdg-cache").rglob("page-*.json"))


def pages_converted(report: Path) -> list[int]:
    (document,) = json.loads(report.read_text("utf-8"))["documents"]
    return [p["page"] for p in document["page_results"] if p["status"] == "converted"]


@pytest.mark.parametrize(
    ("flags", "present", "absent"),
    [
        ((), [PIPE_TABLE], ["<table", "\\(", "<center>"]),
        (("--tables", "html"), [HTML_TABLE], ["| --- |"]),
        (("--math", "latex"), ["| a | \\(x^2\\) |"], ["$x^2$", "<table"]),
        (("--tables", "html", "--math", "latex"), [HTML_TABLE], ["| --- |", "$x^2$"]),
    ],
    ids=["default", "html-tables", "latex-math", "both-kept"],
)
def test_style_flags_shape_the_markdown(
    invoke: Invoke,
    mock_server: MockServer,
    tmp_path: Path,
    flags: tuple[str, ...],
    present: list[str],
    absent: list[str],
) -> None:
    make_pdf(tmp_path / "doc.pdf", 2)
    result = invoke(*convert_args(mock_server, "doc.pdf", *flags))
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "doc.md").read_text("utf-8")
    for text in present:
        assert markdown.count(text) == 2, text
    for text in absent:
        assert text not in markdown, text
    # Whatever the style, each figure has its caption as alt text and below it.
    for page, size in ((1, "602x800"), (2, "604x800")):
        caption = f"Figure 1: the picture of page {size}"
        link = f"![{caption}](doc_images/page-{page:04d}-fig-1.jpg)\n\n{caption}\n\n"
        assert link in markdown


def test_a_resume_in_another_style_re_renders_checkpoints_without_requests(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    """Pages kept from a run that failed are written again in the new style, none re-sent."""
    make_pdf(tmp_path / "doc.pdf", 4)
    mock_server.inject("401")  # one page fails for good, so the run keeps its checkpoints
    first = invoke(
        *convert_args(mock_server, "doc.pdf", "--tables", "html", "--math", "latex"),
        "--report",
        "run1.json",
    )
    assert first.exit_code == 1, first.output
    converted = pages_converted(tmp_path / "run1.json")
    assert len(converted) == 3 and len(checkpoints(tmp_path)) == 3
    assert (tmp_path / "doc.md").read_text("utf-8").count(HTML_TABLE) == 3

    for flags, table in (
        (("--tables", "markdown", "--math", "dollars"), PIPE_TABLE),
        (("--math", "latex"), PIPE_TABLE.replace("$x^2$", "\\(x^2\\)")),
        (("--tables", "html", "--math", "latex"), HTML_TABLE),
    ):
        mock_server.reset_stats()
        pages = ",".join(map(str, converted))
        again = invoke(*convert_args(mock_server, "doc.pdf", "--pages", pages, *flags))
        assert again.exit_code == 0, again.output
        assert mock_server.stats.chat_requests == 0, flags
        markdown = (tmp_path / "doc.md").read_text("utf-8")
        assert markdown.count(table) == 3, flags
        assert len(re.findall(r"^# Page \d+x800$", markdown, flags=re.M)) == 3
        assert len(checkpoints(tmp_path)) == 3, "a run of some pages keeps the others' pages"

    mock_server.reset_stats()
    whole = invoke(*convert_args(mock_server, "doc.pdf"))
    assert whole.exit_code == 0, whole.output
    assert mock_server.stats.chat_requests == 1  # only the page that failed
    assert (tmp_path / "doc.md").read_text("utf-8").count(PIPE_TABLE) == 4
    assert checkpoints(tmp_path) == [], "the whole document done, its checkpoints go"


def test_checkpoints_from_before_blocks_are_converted_again(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path
) -> None:
    """An entry without the page's blocks (an older version's) is not reused."""
    make_pdf(tmp_path / "doc.pdf", 3)
    mock_server.inject("401")
    assert invoke(*convert_args(mock_server, "doc.pdf"), "--report", "r.json").exit_code == 1
    converted = pages_converted(tmp_path / "r.json")
    for entry in checkpoints(tmp_path):
        record = json.loads(entry.read_text("utf-8"))
        del record["blocks"], record["dollars_are_math"]
        entry.write_text(json.dumps({**record, "format": 1}), "utf-8")

    mock_server.reset_stats()
    pages = ",".join(map(str, converted))
    again = invoke(*convert_args(mock_server, "doc.pdf", "--pages", pages))
    assert again.exit_code == 0, again.output
    assert mock_server.stats.chat_requests == len(converted) == 2
    assert (tmp_path / "doc.md").read_text("utf-8").count(PIPE_TABLE) == 2


@pytest.mark.parametrize(
    ("flag", "value", "choices"),
    [("--tables", "pipes", "'markdown' or 'html'"), ("--math", "mathjax", "'dollars' or 'latex'")],
)
def test_an_unknown_style_is_one_line_and_exit_2(
    invoke: Invoke, mock_server: MockServer, tmp_path: Path, flag: str, value: str, choices: str
) -> None:
    make_pdf(tmp_path / "doc.pdf", 1)
    result = invoke(*convert_args(mock_server, "doc.pdf", flag, value))
    assert result.exit_code == 2
    assert f"invalid setting convert.{flag[2:]}: Input should be {choices} (from flag)" in (
        result.stderr
    )
    assert mock_server.stats.chat_requests == 0


def test_config_show_lists_the_style_choices(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCLING_HYBRID_CONVERT__TABLES", "html")
    shown = invoke("config", "show")
    assert shown.exit_code == 0, shown.output
    lines = {line.split(" = ")[0]: line for line in shown.stdout.splitlines() if " = " in line}
    assert lines["convert.tables"].startswith('convert.tables = "html"')
    assert lines["convert.tables"].endswith(
        "# env DOCLING_HYBRID_CONVERT__TABLES (markdown | html)"
    )
    assert lines["convert.math"].endswith("# default (dollars | latex)")
    payload = json.loads(invoke("config", "show", "--json").stdout)
    assert payload["settings"]["convert.math"] == {
        "value": "dollars",
        "source": "default",
        "choices": ["dollars", "latex"],
    }
