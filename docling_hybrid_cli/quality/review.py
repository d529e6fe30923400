"""The per-page check during ``convert``: does the answer agree with the PDF's own text?

Most pages that reach OCR still carry a text layer. When a model converted
such a page, its words are compared with the text layer's
(:func:`~.scores.token_scores`). The page's *agreement* is the lower of
precision and recall -- not F1, which would let a page that kept only half
its text (precision 1, recall 0.5) average out at 0.67. A page whose
agreement falls below ``convert.suspect_below`` is *suspect*: still
converted, but listed for a person to check, with the reason -- "invented"
when the answer holds words the page does not (precision below the
threshold), else "missing" (recall below it). A short comment in the
Markdown marks it too.

With ``convert.verify`` (``--verify``) a suspect page is read once more by
the next backend of the chain that reads images (never the text layer:
it would agree by construction and lose the tables and figures), and the
answer that agrees better is kept; the report shows both scores.

No score, rather than a wrong one, when there is nothing to compare with:
no text layer, a garbage one (:mod:`.reference`), or a page the text layer
itself converted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ..backends.base import Backend
from ..pages import Notify, PageImage, PageResult, PageText
from .record import Answer, PageQuality, SuspectReason, suspect_comment
from .reference import reference_problem
from .scores import TokenScores, token_scores
from .tokens import tokens

__all__ = ["QualityCheck", "SecondReading", "agreement", "suspect_comment"]

SecondReading = Callable[[Backend, PageImage], Awaitable[PageText | str]]
"""Ask one backend for the page; its text, or why it gave none."""

_SELF = "converted by the text layer itself"
_EMPTY_NOTE = "blank page"


class QualityCheck:
    """Scores converted pages against their text layer; flags, and with ``verify`` re-reads."""

    def __init__(self, *, suspect_below: float, verify: bool = False) -> None:
        self.suspect_below = suspect_below
        self.verify = verify

    async def review(
        self,
        page: PageImage,
        result: PageResult,
        chosen: Backend | None,
        later: Sequence[Backend],
        read_again: SecondReading,
        notify: Notify | None = None,
    ) -> None:
        """Set ``result.quality`` (and maybe a better ``result.text``) for a converted page."""
        text = result.text
        if text is None:
            return
        if chosen is not None and chosen.needs_text_layer:
            result.quality = PageQuality(note=_SELF)
            return
        problem = reference_problem(page.text_layer)
        if problem is not None:
            result.quality = PageQuality(note=_EMPTY_NOTE if page.blank else problem)
            return
        assert page.text_layer is not None  # a usable reference is text
        reference = tokens(page.text_layer)
        scores = token_scores(text.markdown, reference)
        first = _answer(text.backend or (chosen.name if chosen else ""), scores)
        if agreement(scores) >= self.suspect_below or text.empty or not self.verify:
            self._settle(result, scores, ())
            return
        answers = [first]
        best, best_scores = text, scores
        for backend in (b for b in later if not b.needs_text_layer):
            if notify is not None:
                notify("sent", f"suspect page: asking {backend.name} as well")
            second = await read_again(backend, page)
            if isinstance(second, str):
                answers.append(Answer(backend.name, error=second))
                continue
            second_scores = token_scores(second.markdown, reference)
            answers.append(_answer(backend.name, second_scores))
            result.attempts += second.attempts
            if agreement(second_scores) > agreement(best_scores):
                best, best_scores = second, second_scores
            break
        result.text = best
        self._settle(result, best_scores, tuple(answers), kept=best.backend)

    def _reason(self, scores: TokenScores) -> SuspectReason | None:
        """Invented words weigh more than missing ones: a page short of both is "invented"."""
        if scores.precision < self.suspect_below:
            return "invented"
        return "missing" if scores.recall < self.suspect_below else None

    def _settle(
        self,
        result: PageResult,
        scores: TokenScores,
        answers: tuple[Answer, ...],
        kept: str | None = None,
    ) -> None:
        """Record the kept answer's scores (a suspect page is marked when it is written)."""
        suspect = self._reason(scores)
        quality = PageQuality(
            agreement=agreement(scores),
            precision=scores.precision,
            recall=scores.recall,
            suspect=suspect,
            answers=answers,
            kept=kept,
        )
        # The Markdown's mark on a suspect page (record.suspect_comment) is written by the
        # output writer from this record, so it also heads pages rendered from blocks.
        result.quality = quality


def agreement(scores: TokenScores) -> float:
    """A page's agreement with its text layer: the lower of precision and recall."""
    return min(scores.precision, scores.recall)


def _answer(backend: str, scores: TokenScores) -> Answer:
    return Answer(backend, agreement(scores), scores.precision, scores.recall)
