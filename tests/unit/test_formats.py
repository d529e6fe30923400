"""Each --to format's file beside the others, named from the document's stem path."""

from __future__ import annotations

from pathlib import Path

import pytest

from docling_hybrid_cli.formats import format_for_suffix, output_paths, primary_output


def test_every_format_gets_its_suffix_in_the_order_asked() -> None:
    paths = output_paths(Path("out/a.b.md"), ["json", "md", "text", "html", "doctags"])
    assert list(paths.items()) == [
        ("json", Path("out/a.b.json")),
        ("md", Path("out/a.b.md")),
        ("text", Path("out/a.b.txt")),
        ("html", Path("out/a.b.html")),
        ("doctags", Path("out/a.b.doctags")),
    ]


@pytest.mark.parametrize(
    ("formats", "expected"),
    [(["md"], "r.md"), (["json", "md"], "r.md"), (["html", "json"], "r.html"), ([], "r.md")],
)
def test_the_primary_output_is_the_markdown_when_asked_for(
    formats: list[str], expected: str
) -> None:
    assert primary_output(Path("r.md"), formats) == Path(expected)


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [(".md", "md"), (".JSON", "json"), (".txt", "text"), (".doctags", "doctags"), (".pdf", None)],
)
def test_format_for_suffix(suffix: str, fmt: str | None) -> None:
    assert format_for_suffix(suffix) == fmt
