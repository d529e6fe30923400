"""List items as docling lists: groups, ordered/unordered items, nesting, lists over blocks."""

from __future__ import annotations

import pytest

pytest.importorskip("docling_core", reason="the [docling] extra is not installed")

from docling_core.types.doc import DocItemLabel, DoclingDocument, GroupLabel, ListItem

from docling_hybrid_cli.blocks import Block, markdown_blocks, page_fractions
from docling_hybrid_cli.docling_document import DocPage, build_document
from docling_hybrid_cli.docling_lists import ListEntry, list_entries

WIDTH, HEIGHT = 612.0, 792.0


def box(x1: int, y1: int, x2: int, y2: int) -> tuple[float, float, float, float]:
    return page_fractions((x1, y1, x2, y2), 999)


def build(*pages: tuple[Block, ...] | None) -> DoclingDocument:
    return build_document(
        "d", [DocPage(n, WIDTH, HEIGHT, blocks) for n, blocks in enumerate(pages, start=1)]
    )


def items(doc: DoclingDocument) -> list[ListItem]:
    return [t for t in doc.texts if isinstance(t, ListItem)]


def groups(doc: DoclingDocument) -> list[str]:
    """Each list group's parent, as a cref: #/body for a list, #/texts/N for a nested one."""
    return [g.parent.cref for g in doc.groups if g.label == GroupLabel.LIST if g.parent]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- one\n- two", [(0, "-", "one"), (0, "-", "two")]),
        ("1. first\n2) second", [(0, "1.", "first"), (0, "2)", "second")]),
        ("* a\n  * b\n\tc", [(0, "*", "a"), (2, "*", "b c")]),
        ("• bullet\ncontinued here", [(0, "•", "bullet continued here")]),
    ],
)
def test_list_entries(text: str, expected: list[tuple[int, str, str]]) -> None:
    entries = list_entries(text)
    assert entries is not None
    assert [(e.indent, e.marker, e.text) for e in entries] == expected


@pytest.mark.parametrize(
    "text", ["A paragraph.", "-not an item", "2024 was a year.", "1.5 litres", "", "#1 hit"]
)
def test_text_that_is_not_a_list(text: str) -> None:
    assert list_entries(text) is None


def test_enumerated_follows_the_marker() -> None:
    assert ListEntry(0, "3.", "x").enumerated and not ListEntry(0, "-", "x").enumerated


def test_deepseek_items_one_block_each_are_one_list() -> None:
    """DeepSeek-OCR writes an item per block: consecutive ones are one group, each with its box."""
    doc = build(
        (
            Block("text", "Before.", (box(100, 100, 900, 120),)),
            Block("text", "- apples", (box(120, 130, 900, 150),)),
            Block("text", "- pears", (box(120, 160, 900, 180),)),
            Block("text", "After.", (box(100, 200, 900, 220),)),
            Block("text", "1. first", (box(120, 230, 900, 250),)),
        )
    )
    listed = items(doc)
    assert [(i.text, i.enumerated, i.marker) for i in listed] == [
        ("apples", False, "-"),
        ("pears", False, "-"),
        ("first", True, "1."),
    ]
    assert listed[0].parent == listed[1].parent != listed[2].parent
    assert groups(doc) == ["#/body", "#/body"]
    top = listed[1].prov[0].bbox.to_top_left_origin(HEIGHT)
    assert top.t == pytest.approx(160 / 999 * HEIGHT, abs=0.1)
    assert [t.label for t in doc.texts if not isinstance(t, ListItem)] == [DocItemLabel.TEXT] * 2


def test_nested_items_open_a_list_under_the_item_before() -> None:
    doc = build(markdown_blocks("- fruit\n  - apple\n  - pear\n- vegetables\n1. numbered"))
    listed = items(doc)
    assert [i.text for i in listed] == ["fruit", "apple", "pear", "vegetables", "numbered"]
    fruit = listed[0]
    assert listed[1].parent == listed[2].parent and listed[1].parent != fruit.parent
    nested = listed[1].parent.resolve(doc)
    assert nested.parent == fruit.get_ref()
    assert listed[3].parent == fruit.parent, "back out to the outer list"
    assert listed[4].parent != fruit.parent, "numbers after bullets are a list of their own"
    markdown = doc.export_to_markdown()
    assert "- fruit\n    - apple" in markdown and "1. numbered" in markdown


def test_a_list_goes_on_over_a_page_break_but_not_over_a_failed_page() -> None:
    footer = Block("footer", "Page 1", (box(450, 960, 550, 980),))
    doc = build(
        (Block("text", "- one"), footer),
        (Block("text", "- two"),),
        None,
        (Block("text", "- three"),),
    )
    one, two, three = items(doc)
    assert one.parent == two.parent != three.parent
    assert [p.page_no for i in (one, two, three) for p in i.prov] == [1, 2, 4]


def test_markdown_answers_give_lists_with_the_whole_page_as_box() -> None:
    doc = build(markdown_blocks("# Title\n\nIntro:\n\n- a\n- b\n\n3. c"))
    listed = items(doc)
    assert [(i.text, i.enumerated) for i in listed] == [("a", False), ("b", False), ("c", True)]
    bbox = listed[0].prov[0].bbox
    assert (bbox.l, bbox.b, bbox.r, bbox.t) == (0, 0, WIDTH, HEIGHT)


def test_a_box_per_item_places_each_item() -> None:
    """The text layer measures each item: two boxes for two items pair up, in order."""
    first, second = box(100, 100, 500, 120), box(100, 130, 600, 150)
    doc = build((Block("text", "- one\n- two", (first, second)),))
    one, two = items(doc)
    assert len(one.prov) == len(two.prov) == 1
    tops = [i.prov[0].bbox.to_top_left_origin(HEIGHT).t for i in (one, two)]
    assert tops == pytest.approx([100 / 999 * HEIGHT, 130 / 999 * HEIGHT], abs=0.1)


def test_a_list_block_with_one_box_gives_it_to_every_item() -> None:
    doc = build((Block("text", "- one\n- two\n- three", (box(100, 100, 500, 200),)),))
    assert {len(i.prov) for i in items(doc)} == {1}
    assert len({i.prov[0].bbox.t for i in items(doc)}) == 1
