"""Markdown lists as docling lists: a list group holding its items, nested lists under their item.

Neither DeepSeek-OCR nor the chat models label lists: their items come as
``text`` blocks (DeepSeek-OCR often one block per item) or as a paragraph of
``- item`` / ``1. item`` lines in a Markdown answer. A text block whose first
line is a list item is read as list items here; consecutive list blocks on
the document continue the same list (so a list cut by a page break, or split
into one block per item, stays one group), and a more indented item opens a
nested list under the item before it, as docling nests them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docling_core.types.doc import DoclingDocument, ListItem, NodeItem, ProvenanceItem

__all__ = ["ListEntry", "ListState", "list_entries"]

_ITEM = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*+•◦▪]|\d{1,3}[.)])[ \t]+(?P<text>\S.*)$")
"""A bullet (``-``, ``*``, ``+``, ``•``) or a number of up to three digits with ``.``/``)``."""


@dataclass(slots=True)
class ListEntry:
    """One list item: its indentation (columns), marker and text (continuation lines joined)."""

    indent: int
    marker: str
    text: str

    @property
    def enumerated(self) -> bool:
        return self.marker[0].isdigit()


def list_entries(text: str) -> list[ListEntry] | None:
    """The items of a list block, or None when its first line is not a list item.

    A line that is not an item continues the item before it, as a lazy
    continuation line does in Markdown.
    """
    lines = [line.expandtabs(4) for line in text.splitlines() if line.strip()]
    if not lines or not _ITEM.match(lines[0]):
        return None
    entries: list[ListEntry] = []
    for line in lines:
        if match := _ITEM.match(line):
            entries.append(ListEntry(len(match["indent"]), match["marker"], match["text"].strip()))
        else:
            entries[-1].text = f"{entries[-1].text} {line.strip()}"
    return entries


@dataclass(slots=True)
class _Level:
    indent: int
    enumerated: bool
    group: NodeItem
    parent: NodeItem | None


class ListState:
    """The list being built, open across blocks until something else is added to the document."""

    def __init__(self, doc: DoclingDocument) -> None:
        self.doc = doc
        self._levels: list[_Level] = []
        self._last: ListItem | None = None

    def close(self) -> None:
        """Something other than a list item was added: the next item starts a new list."""
        self._levels.clear()
        self._last = None

    def add(self, entries: Sequence[ListEntry], prov: Sequence[ProvenanceItem]) -> NodeItem:
        """Add ``entries``; the group of the first one is returned.

        A block with one box per item (the text layer measures each line) gives
        each item its own; otherwise every item gets all of the block's boxes.
        """
        first: NodeItem | None = None
        paired = len(prov) == len(entries) > 1
        for index, entry in enumerate(entries):
            group = self._group_for(entry)
            first = first or group
            own = [prov[index]] if paired else list(prov)
            item = self.doc.add_list_item(
                text=entry.text,
                enumerated=entry.enumerated,
                marker=entry.marker,
                prov=own[0] if own else None,
                parent=group,
            )
            item.prov.extend(own[1:])
            self._last = item
        assert first is not None
        return first

    def _group_for(self, entry: ListEntry) -> NodeItem:
        levels = self._levels
        while len(levels) > 1 and entry.indent < levels[-1].indent:
            levels.pop()
        if levels and entry.indent < levels[0].indent:
            levels[0].indent = entry.indent  # the list's first item was the indented one
        if levels and entry.indent > levels[-1].indent and self._last is not None:
            self._open(entry, parent=self._last)  # a nested list, under the item before
        elif levels and levels[-1].enumerated != entry.enumerated:
            top = levels.pop()  # bullets after numbers (or back): a list of its own
            self._open(entry, parent=top.parent)
        elif not levels:
            self._open(entry, parent=None)
        return levels[-1].group

    def _open(self, entry: ListEntry, parent: NodeItem | None) -> None:
        group = self.doc.add_list_group(parent=parent)
        self._levels.append(_Level(entry.indent, entry.enumerated, group, parent))
