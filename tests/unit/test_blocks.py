"""The structured page: Markdown split into labelled blocks, and blocks read back from a file."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from docling_hybrid_cli.blocks import (
    Block,
    blocks_from_records,
    blocks_to_records,
    markdown_blocks,
    page_fractions,
)

ANSWER = """# Annual report

Revenue grew.
Costs fell.

## Tables

| a | b |
|---|---|
| 1 | 2 |

```python
x = 1

y = 2
```

$$
a

b
$$

\\[ E = mc^2 \\]

<table>
<tr><td>x</td></tr>

</table>
- one
- two"""


def test_markdown_is_split_into_labelled_blocks() -> None:
    blocks = markdown_blocks(ANSWER)
    assert [b.label for b in blocks] == [
        "title",
        "text",
        "sub_title",
        "table",
        "code",
        "equation",
        "equation",
        "table",
        "text",
    ]
    assert blocks[1].text == "Revenue grew.\nCosts fell."
    assert blocks[4].text == "```python\nx = 1\n\ny = 2\n```"
    assert blocks[5].text == "$$\na\n\nb\n$$"
    assert blocks[7].text == "<table>\n<tr><td>x</td></tr>\n\n</table>"
    assert all(b.boxes == () and b.figures == () for b in blocks)


def test_every_character_of_content_survives_the_split() -> None:
    joined = "".join(b.text for b in markdown_blocks(ANSWER))
    assert sorted(joined.replace("\n", "")) == sorted(ANSWER.replace("\n", ""))


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("", []),
        ("\n\n  \n", []),
        ("```\nnever closed\n\nstill code", ["code"]),
        ("<table><tr><td>1\n\nmore", ["table"]),
        ("| not | a table |\njust a line", ["text"]),
        ("#hashtag is text", ["text"]),
        ("###### deep", ["sub_title"]),
        ("heading next\n# Title\nafter", ["text", "title", "text"]),
    ],
)
def test_edge_cases(text: str, labels: list[str]) -> None:
    assert [b.label for b in markdown_blocks(text)] == labels


def test_records_round_trip() -> None:
    blocks = (
        Block("image", "", ((0.1, 0.2, 0.5, 0.6),), ("page-0001-fig-1.jpg",)),
        Block("image_caption", "<center>Figure 1</center>", ((0.1, 0.61, 0.5, 0.63),)),
        Block("text", "ünïcode $5"),
    )
    records = json.loads(json.dumps(blocks_to_records(blocks)))
    assert blocks_from_records(records, ["page-0001-fig-1.jpg"]) == blocks


@pytest.mark.parametrize(
    "records",
    [
        "not a list",
        ["not an object"],
        [{"text": "no label"}],
        [{"label": "", "text": "x"}],
        [{"label": "x" * 65, "text": "x"}],
        [{"label": "text", "text": 5}],
        [{"label": "text", "text": "x", "boxes": [[0, 0, 1]]}],
        [{"label": "text", "text": "x", "boxes": [[0, 0, 1, 2]]}],
        [{"label": "text", "text": "x", "boxes": [[0, 0, "1", 1]]}],
        [{"label": "text", "text": "x", "boxes": [[0, 0, True, 1]]}],
        [{"label": "text", "text": "x", "boxes": "[[0, 0, 1, 1]]"}],
        [{"label": "image", "text": "", "figures": ["../../etc/passwd"]}],
        [{"label": "image", "text": "", "figures": "page-0001-fig-1.jpg"}],
    ],
    ids=[
        "not-a-list",
        "not-an-object",
        "no-label",
        "empty-label",
        "long-label",
        "text-not-string",
        "short-box",
        "box-beyond-the-page",
        "box-string",
        "box-bool",
        "boxes-not-list",
        "unknown-figure",
        "figures-not-list",
    ],
)
def test_malformed_records_are_refused(records: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        blocks_from_records(records, ["page-0001-fig-1.jpg"])


def test_non_finite_box_is_refused() -> None:
    with pytest.raises(ValueError):
        blocks_from_records([{"label": "text", "text": "", "boxes": [[0, 0, math.nan, 1]]}], [])


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((0, 0, 999, 999), (0.0, 0.0, 1.0, 1.0)),
        ((500, 250, 100, 750), (0.1001, 0.2503, 0.5005, 0.7508)),
        ((-50, 0, 2000, 10), (0.0, 0.0, 1.0, 0.01)),
    ],
    ids=["full-page", "swapped-corners", "clamped"],
)
def test_page_fractions(
    box: tuple[float, float, float, float], expected: tuple[float, ...]
) -> None:
    assert page_fractions(box, 999) == expected
