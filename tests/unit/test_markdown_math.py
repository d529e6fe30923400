"""LaTeX delimiters to dollars, literal dollars escaped, and code never touched."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.markdown_math import code_pieces, dollar_math


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"a \(x^2\) b", "a $x^2$ b"),
        (r"\( \frac{a}{b} \)", r"$\frac{a}{b}$"),
        (r"\(a\) and \(b\)", "$a$ and $b$"),
        (r"\( a \\ b \)", r"$a \\ b$"),
        (r"\(\)", ""),
        (r"\[ E = mc^2 \]", "\n\n$$\nE = mc^2\n$$\n\n"),
        ("\\[\nx\n\n  y\n\\]", "\n\n$$\nx\n  y\n$$\n\n"),
        (r"see \[x\] here", "see \n\n$$\nx\n$$\n\n here"),
    ],
    ids=[
        "inline",
        "inline-spaces-trimmed",
        "two-inline",
        "escaped-backslash-inside",
        "empty",
        "display",
        "display-blank-line-removed",
        "display-mid-paragraph",
    ],
)
def test_latex_delimiters_become_dollars(text: str, expected: str) -> None:
    assert dollar_math(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from $5 to $10", r"from \$5 to \$10"),
        ("costs $ 3", r"costs \$ 3"),
        ("US$", r"US\$"),
        ("price $5, total $8", r"price \$5, total \$8"),
        (r"already \$ escaped", r"already \$ escaped"),
        ("a $x$ b", "a $x$ b"),
        ("$$\nx\n$$", "$$\nx\n$$"),
        ("$x$5", r"\$x\$5"),
        ("$a\n\nb$", "\\$a\n\nb\\$"),
    ],
    ids=[
        "money",
        "space-after",
        "trailing",
        "no-valid-closer",
        "escaped-stays",
        "inline-math-kept",
        "display-math-kept",
        "closer-before-a-digit",
        "no-math-across-paragraphs",
    ],
)
def test_dollars_told_apart_like_pandoc(text: str, expected: str) -> None:
    """Math a chat model wrote in dollars stays; any other dollar is escaped."""
    assert dollar_math(text) == expected


@pytest.mark.parametrize(
    "text", ["a $x$ b", "$$\nx\n$$", "$3.50 and US$ 4", r"\(y\) costs $2"], ids=str
)
def test_when_dollars_are_never_math_every_dollar_is_escaped(text: str) -> None:
    """DeepSeek-OCR and OCR'd text write math only as \\( \\): each ``$`` is a dollar."""
    converted = dollar_math(text, dollars_are_math=False)
    assert converted.count("\\$") == text.count("$")
    if r"\(y\)" in text:
        assert converted.startswith("$y$")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\[x\]", "$$x$$"),
        ("\\(a\nb\\)", "$a b$"),
        ("$$\na\n$$", "$$ a $$"),
    ],
)
def test_one_line_keeps_math_on_its_line(text: str, expected: str) -> None:
    assert dollar_math(text, one_line=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        r"unclosed \( x",
        r"\\(not math\\)",
        r"\alpha outside math",
        "a backslash at the end \\",
        r"\[ unclosed display",
    ],
)
def test_what_is_not_math_is_left_as_it_is(text: str) -> None:
    assert dollar_math(text) == text


@pytest.mark.parametrize(
    "text",
    [r"a \(x\) and \[y\] cost $5", "$a$ $$b$$", r"x \$ y", "plain"],
)
def test_conversion_is_idempotent(text: str) -> None:
    once = dollar_math(text)
    assert dollar_math(once) == once


def test_code_pieces_split_fences_and_spans() -> None:
    text = "a `\\(x\\)` b\n```py\n$x = 1\n```\nc ``d ` e`` f `unclosed"
    pieces = list(code_pieces(text))
    assert "".join(piece for _, piece in pieces) == text
    assert [piece for code, piece in pieces if code] == [
        "`\\(x\\)`",
        "```py\n$x = 1\n```",
        "``d ` e``",
    ]


@pytest.mark.parametrize(
    "text",
    ["```\nnever closed $x \\(y\\)", "~~~~\n$a\n~~~\nstill code\n~~~~", "    ```\nindented"],
    ids=["unclosed-fence", "longer-closer-needed", "indented-4"],
)
def test_fences_follow_commonmark(text: str) -> None:
    pieces = list(code_pieces(text))
    assert "".join(p for _, p in pieces) == text
    if text.startswith("    "):
        assert not any(code for code, _ in pieces)  # four spaces: not a fence
    else:
        assert pieces[0][0]


@pytest.mark.parametrize(
    "text",
    [
        r"\(" * 20_000,
        "$a " * 20_000,
        "`" + " `` " * 10_000,
        r"\[" * 10_000 + "$" * 10_000,
    ],
    ids=["unclosed-inline", "unclosed-dollars", "unmatched-backticks", "mixed"],
)
def test_hostile_text_is_handled_without_loss(text: str) -> None:
    """A flood of openers that never close: every character survives, nothing hangs."""
    converted = dollar_math(text)
    assert converted.replace("\\$", "$") == text
    assert "".join(p for _, p in code_pieces(text)) == text
