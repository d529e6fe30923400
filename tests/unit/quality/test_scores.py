"""The scorer: a faithful answer scores high however it is laid out; an invented or half one low."""

from __future__ import annotations

import random

import pytest

from docling_hybrid_cli.quality.review import agreement
from docling_hybrid_cli.quality.scores import edit_similarity, levenshtein, token_scores
from docling_hybrid_cli.quality.tables import cell_scores, table_cells
from docling_hybrid_cli.quality.tokens import tokens
from docling_hybrid_cli.textlayer import HEADING_MARK

PAGE = (
    "Annual Report 2024\n\nRevenue grew by 12 percent to 4.5 million euros, driven by "
    "exports to Norway and Chile. The board proposes a dividend of 0.40 euros per share.\n\n"
    "Staff numbers rose from 118 to 131; the new laboratory in Graz opened in March."
)


def score(answer: str, reference: str = PAGE) -> float:
    return agreement(token_scores(answer, reference))


@pytest.mark.parametrize(
    "answer",
    [
        PAGE,
        # reading order shuffled: paragraphs swapped
        "\n\n".join(reversed(PAGE.split("\n\n"))),
        # Markdown decoration
        "# Annual Report 2024\n\n**Revenue** grew by *12 percent* to 4.5 million euros, driven "
        "by exports to [Norway](https://example.org/no) and Chile. The board proposes a "
        "dividend of 0.40 euros per share.\n\n- Staff numbers rose from 118 to 131;\n- the new "
        "laboratory in Graz opened in March.",
        # hyphenation at line ends (text layer style and Markdown style)
        PAGE.replace("laboratory", "labor-\natory").replace("dividend", "divi\ufffedend"),
        # HTML table layout of the same words, with entities
        "<table><tr><th>Annual Report 2024</th></tr><tr><td>Revenue grew by 12 percent to "
        "4.5 million euros, driven by exports to Norway &amp; Chile.</td></tr></table>"
        " The board proposes a dividend of 0.40 euros per share. Staff numbers rose from 118 "
        "to 131; the new laboratory in Graz opened in March. and",
        # a caption written twice, a spanning cell repeated: not invented
        PAGE + "\n\nRevenue grew by 12 percent to 4.5 million euros",
    ],
    ids=["same", "reordered", "markdown", "hyphenated", "html-table", "repeated"],
)
def test_faithful_answers_agree(answer: str) -> None:
    assert score(answer) >= 0.95


def test_math_in_latex_matches_the_text_layers_symbols() -> None:
    reference = "The energy is E = mc2 where α is small and β = 0.5 over the whole range of x."
    answer = r"The energy is $E = mc^{2}$ where $\alpha$ is small and $\beta = 0.5$ over the"
    answer += r" whole range of \(x\)."
    assert score(answer, reference) >= 0.9


@pytest.mark.parametrize(
    ("answer", "low"),
    [
        ("Quarterly zephyr revenue climbed across the northern orchards while marmalade futures "
         "drifted sideways and penguins migrated near the copper mines of Atlantis.", "precision"),
        (PAGE.split("\n\n")[0], "recall"),
        (" ".join(PAGE.split()[: len(PAGE.split()) // 2]), "recall"),
        ("", "recall"),
    ],
    ids=["invented", "title-only", "half", "empty"],
)  # fmt: skip
def test_wrong_answers_score_low_on_the_right_side(answer: str, low: str) -> None:
    scores = token_scores(answer, PAGE)
    assert getattr(scores, low) < 0.6
    assert agreement(scores) < 0.6


def test_heading_marks_of_the_text_layer_are_not_words() -> None:
    assert tokens(f"{HEADING_MARK}1 Title\nBody 7") == ["title", "body", "7"]


def test_tokens_split_letters_from_digits_and_fold_case_and_forms() -> None:
    assert tokens("COVID-19 ﬁnal Straße") == ["covid", "19", "final", "strasse"]
    assert tokens("中文字") == ["中", "文", "字"]


def test_empty_reference_is_only_matched_by_nothing() -> None:
    assert token_scores("", "").f1 == 1.0
    assert token_scores("words", "").f1 == 0.0


def _dp(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_levenshtein_matches_the_textbook_table() -> None:
    rng = random.Random(7)
    for _ in range(500):
        a = "".join(rng.choice("ab c") for _ in range(rng.randint(0, 70)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 70)))
        assert levenshtein(a, b) == _dp(a, b)


def test_edit_similarity_counts_order_unlike_tokens() -> None:
    reordered = "\n\n".join(reversed(PAGE.split("\n\n")))
    assert edit_similarity(PAGE, PAGE) == 1.0
    assert edit_similarity(reordered, PAGE) < 0.7 < score(reordered)


TABLE_MD = "| Year | Revenue |\n| --- | ---: |\n| 2023 | 4.0 |\n| 2024 | 4.5 |"
TABLE_HTML = (
    "<table><tr><th>Year</th><th>Revenue</th></tr><tr><td>2023</td><td>4.0</td></tr>"
    "<tr><td>2024</td><td>4.5</td></tr></table>"
)


def test_table_cells_from_markdown_and_html_agree() -> None:
    assert table_cells(TABLE_MD) == table_cells(TABLE_HTML) == [
        "year", "revenue", "2023", "4 0", "2024", "4 5",
    ]  # fmt: skip
    scores = cell_scores(TABLE_HTML, TABLE_MD)
    assert scores is not None and scores.f1 == 1.0


def test_a_misread_cell_costs_that_cell() -> None:
    scores = cell_scores(TABLE_HTML.replace("4.5", "4.8"), TABLE_MD)
    assert scores is not None and scores.recall == pytest.approx(5 / 6)


def test_no_table_in_the_reference_gives_no_cell_score() -> None:
    assert cell_scores(TABLE_MD, "just text") is None
