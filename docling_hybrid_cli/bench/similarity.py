"""How similar two backends' Markdown for the same pages is (``backend_similarity``).

Not a quality measure: two backends can agree and both be wrong. Quality
against a reference is :mod:`.quality`; agreement with the PDF's own text
layer is ``convert``'s ``text_layer_agreement``.

Pages are compared as the output writes them in the default style (pipe
tables, ``$`` math): DeepSeek-OCR's HTML tables and ``\\(``-math against a
chat model's pipe tables would otherwise differ in markup, not in content.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ..markdown_style import MarkdownStyle, render_markdown
from ..pages import PageText
from ..pipeline import DocumentResult
from .stats import mean_or_none

__all__ = ["backend_similarity", "normalise_text", "similarity"]


def normalise_text(text: str) -> str:
    """Whitespace-collapsed, so line wrapping and blank lines do not count as differences."""
    return " ".join(text.split())


def similarity(a: str, b: str) -> float:
    """Normalised edit similarity in [0, 1] of two pages' Markdown (1 = identical).

    ``difflib.SequenceMatcher.ratio`` on whitespace-normalised text: 2·M / (|a| + |b|)
    with M the matched characters; no junk heuristic, so long pages are not
    judged on a sample.
    """
    na, nb = normalise_text(a), normalise_text(b)
    if not na and not nb:
        return 1.0
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


def backend_similarity(results: Mapping[str, DocumentResult]) -> dict[str, Any] | None:
    """Per page and overall, how similar each pair of backends' Markdown is.

    None with fewer than two backends: there is nothing to compare.
    """
    names = list(results)
    if len(names) < 2:
        return None
    texts = {
        name: {p.page: _as_written(p.text) for p in results[name].pages if p.text is not None}
        for name in names
    }
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    per_page: list[dict[str, Any]] = []
    all_scores: list[float] = []
    for page in sorted({page for t in texts.values() for page in t}):
        scores: dict[str, float | None] = {}
        for a, b in pairs:
            ta, tb = texts[a].get(page), texts[b].get(page)
            score = similarity(ta, tb) if ta is not None and tb is not None else None
            scores[f"{a}~{b}"] = round(score, 4) if score is not None else None
            if score is not None:
                all_scores.append(score)
        per_page.append({"page": page, "similarity": scores})
    overall = {
        f"{a}~{b}": mean_or_none(
            [s for row in per_page if (s := row["similarity"][f"{a}~{b}"]) is not None]
        )
        for a, b in pairs
    }
    return {
        "metric": "difflib ratio on whitespace-normalised Markdown in the default style "
        "(1 = identical)",
        "backends": names,
        "mean_similarity": mean_or_none(all_scores),
        "pairs": overall,
        "pages": per_page,
    }


def _as_written(text: PageText) -> str:
    """The page in the default style (a finished page's blocks are gone: its text is split)."""
    return render_markdown(
        text.page_blocks(), MarkdownStyle(), dollars_are_math=text.dollars_are_math
    )
