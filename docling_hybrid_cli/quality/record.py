"""What the quality check found for one page, as the report and the checkpoint keep it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..textclean import html_comment_text

__all__ = ["Answer", "PageQuality", "SuspectReason", "suspect_comment"]

SuspectReason = Literal["invented", "missing"]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True, slots=True)
class Answer:
    """One backend's answer for a page, scored (``--verify`` keeps every one it asked)."""

    backend: str
    agreement: float | None = None
    precision: float | None = None
    recall: float | None = None
    error: str | None = None
    """Why this backend gave no answer to score (it failed or answered empty)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backend": self.backend,
            "agreement": _rounded(self.agreement),
            "precision": _rounded(self.precision),
            "recall": _rounded(self.recall),
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Answer:
        if not isinstance(data, dict) or not isinstance(data.get("backend"), str):
            raise TypeError("a verified answer needs a backend name")
        error = data.get("error")
        return cls(
            backend=data["backend"],
            agreement=_number(data.get("agreement")),
            precision=_number(data.get("precision")),
            recall=_number(data.get("recall")),
            error=error if isinstance(error, str) else None,
        )


@dataclass(frozen=True, slots=True)
class PageQuality:
    """A page's agreement with its own text layer, and whether someone should look at it.

    ``agreement`` is the lower of the kept answer's word precision and recall
    against the text layer, None when there is no usable text layer or the
    text layer itself converted the page (``note`` says which). ``suspect``
    is set when the agreement is below the threshold: "invented" when
    precision is (words the page does not have), else "missing".
    ``answers`` holds every answer ``--verify`` scored, the first one first.
    """

    agreement: float | None = None
    precision: float | None = None
    recall: float | None = None
    note: str | None = None
    suspect: SuspectReason | None = None
    answers: tuple[Answer, ...] = ()
    kept: str | None = None

    def report_fields(self) -> dict[str, Any]:
        """The page record's quality fields (``--report``)."""
        out: dict[str, Any] = {"text_layer_agreement": _rounded(self.agreement)}
        if self.agreement is None and self.note:
            out["text_layer_note"] = self.note
        if self.suspect is not None:
            out["suspect"] = {
                "reason": self.suspect,
                "precision": _rounded(self.precision),
                "recall": _rounded(self.recall),
            }
        if self.answers:
            out["verify"] = {"answers": [a.to_dict() for a in self.answers], "kept": self.kept}
        return out

    def to_dict(self) -> dict[str, Any]:
        """For the page checkpoint: enough to report a cached page as the first run did."""
        return {
            "agreement": self.agreement,
            "precision": self.precision,
            "recall": self.recall,
            "note": self.note,
            "suspect": self.suspect,
            "answers": [a.to_dict() for a in self.answers],
            "kept": self.kept,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PageQuality | None:
        """A stored record back; None for none; TypeError for a damaged one."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise TypeError("a page's quality record must be an object")
        suspect = data.get("suspect")
        if suspect not in (None, "invented", "missing"):
            raise TypeError(f"unknown suspect reason {suspect!r}")
        note, kept = data.get("note"), data.get("kept")
        return cls(
            agreement=_number(data.get("agreement")),
            precision=_number(data.get("precision")),
            recall=_number(data.get("recall")),
            note=note if isinstance(note, str) else None,
            suspect=suspect,
            answers=tuple(Answer.from_dict(a) for a in data.get("answers") or ()),
            kept=kept if isinstance(kept, str) else None,
        )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise TypeError(f"a score must be a number in [0, 1], not {value!r}")
    return float(value)


def suspect_comment(page: int, quality: PageQuality) -> str:
    """The Markdown mark on a suspect page: what to check, and the scores that said so."""
    what = "may hold invented text" if quality.suspect == "invented" else "may be missing text"
    detail = (
        f"agreement with the PDF's text layer {quality.agreement or 0:.2f}: "
        f"precision {quality.precision or 0:.2f}, recall {quality.recall or 0:.2f}"
    )
    return f"<!-- suspect page {page}: {html_comment_text(f'{what} ({detail}); check it')} -->"
