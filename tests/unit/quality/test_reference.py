"""Text layers that cannot serve as a reference are recognised, real ones are used."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.quality.reference import reference_problem

GOOD = (
    "The committee approved a budget for repairing the old stone bridge near the mill. "
    "Students compared three methods for estimating the height of a tall building."
)


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        "Umsatz 2024: 4,5 Mio. EUR; Mitarbeiter 131; Standorte Graz, Wien und Linz, neu seit März",
        "| 2023 | 4.0 | 118 |\n| 2024 | 4.5 | 131 |\n| 2025 | 5.1 | 140 |\n| 2026 | 7.3 | 149 |",
        "مرحبا بالعالم هذا نص عربي طويل بما يكفي للمقارنة مع إجابة النموذج على هذه الصفحة اليوم",
    ],
    ids=["english", "german-numbers", "table", "arabic"],
)
def test_real_text_is_a_reference(text: str) -> None:
    assert reference_problem(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "no text layer"),
        ("  \n ", "no text layer"),
        ("Page 7", "too little"),
        ("\ufffd\ufffd\ufffd " * 20 + GOOD, "replacement"),
        ("\ue000\ue001\ue002\ue003 " * 30 + GOOD, "private-use"),
        ("\x03\x04\x05\x06 " * 30 + GOOD, "control"),
        (GOOD.replace("e", "Ã©"), "mis-decoded"),
        ("(cid:12)(cid:7)(cid:44) " + GOOD, "glyph numbers"),
        ("#### ---- //// **** ==== ;;;; " * 20 + "a b c", "symbols"),
        ("Wkh frpplwwhh dssuryhg d exgjhw iru uhsdlulqj wkh rog vwrqh eulgjh " * 8, "words"),
    ],
    ids=[
        "none", "blank", "stamp", "fffd", "pua", "control", "mojibake", "cid", "symbols",
        "shifted-letters",
    ],
)  # fmt: skip
def test_garbage_text_layers_are_named(text: str | None, says: str) -> None:
    problem = reference_problem(text)
    assert problem is not None and says in problem
