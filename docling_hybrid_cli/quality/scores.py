"""How close a page's text is to a reference: word overlap and edit distance.

Two measures, for two questions:

* :func:`token_scores` -- *which words* agree, order ignored. Precision is
  the share of the answer's words the reference has (low: invented text),
  recall the share of the reference's words the answer has (low: text
  missing); F1 combines them. Reading order, line breaks, table layout and
  markup do not count. Precision asks only whether a word occurs in the
  reference, not how often, so a table's spanning cell repeated in every
  row, or a caption written twice, is not taken for invented text; recall
  counts every occurrence, so half a page dropped is half the recall.
* :func:`edit_similarity` -- one minus the normalised edit distance over the
  normalised text (OmniDocBench's text metric), so order counts too.

Edit distance uses the bit-parallel algorithm of Myers (1999) as Hyyrö
formulated it for Levenshtein distance, with Python's big integers as the
bit vectors: a 5,000-character page against another is a few milliseconds,
where the textbook table would be 25 million steps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .tokens import normalise, tokens

__all__ = ["TokenScores", "edit_similarity", "levenshtein", "token_scores"]


@dataclass(frozen=True, slots=True)
class TokenScores:
    """Word overlap of an answer with its reference, each 0-1."""

    precision: float
    recall: float
    f1: float
    answer_words: int
    reference_words: int


def token_scores(answer: str | Sequence[str], reference: str | Sequence[str]) -> TokenScores:
    """Precision, recall and F1 of ``answer``'s words against ``reference``'s.

    Either may be given as text or as its :func:`~.tokens.tokens`. An empty
    answer invents nothing (precision 1) and finds nothing (recall 0); an
    empty reference is matched only by an empty answer.
    """
    got = Counter(tokens(answer) if isinstance(answer, str) else answer)
    want = Counter(tokens(reference) if isinstance(reference, str) else reference)
    n_got, n_want = sum(got.values()), sum(want.values())
    supported = sum(count for word, count in got.items() if word in want)
    found = sum(min(count, got[word]) for word, count in want.items())
    precision = supported / n_got if n_got else 1.0
    recall = found / n_want if n_want else (1.0 if not n_got else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TokenScores(precision, recall, f1, n_got, n_want)


def edit_similarity(answer: str, reference: str) -> float:
    """``1 - levenshtein / max(len)`` over both texts' normalised words (1: identical)."""
    a, b = normalise(answer), normalise(reference)
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def levenshtein(a: str, b: str) -> int:
    """Levenshtein distance of two strings, bit-parallel (Myers 1999, Hyyrö 2001).

    Column ``j`` of the dynamic-programming table is kept as two bit vectors
    of vertical +1/-1 deltas over the shorter string, so each character of the
    longer one costs a handful of big-integer operations.
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, char in enumerate(b):
        peq[char] = peq.get(char, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for char in a:
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return score
