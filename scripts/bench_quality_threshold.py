"""Where to set ``convert.suspect_below``: agreement of good and of bad answers with the text layer.

Usage (from the repo root):
    .venv/bin/python scripts/bench_quality_threshold.py [PDF ...] [--seed 0] [--json out.json]

For every page of the given PDFs (plus a generated 20-page text PDF) whose
text layer is usable as a reference, answers of known quality are scored
exactly as ``convert`` scores a model's answer (the lower of word precision
and recall against the page's text layer):

* good answers: the text-layer backend's Markdown; the same with its
  paragraphs shuffled and wrapped in DeepSeek-style HTML; Tesseract's
  reading of the rendered page (144 dpi, as sent to a model; skipped when
  tesseract is not installed); character noise at 1 %, 2 % and 4 % of the
  letters (OCR misreadings);
* bad answers: the last 50 % or 75 % of the text dropped; invented text of
  50 % or 100 % of the page's length added; all of it replaced by invented
  text; another page's text (the wrong page).

Prints, per kind, the minimum, median and maximum agreement, and the
threshold halfway between the worst good answer and the best bad one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.text_layer import text_to_markdown
from docling_hybrid_cli.errors import BackendError
from docling_hybrid_cli.quality.reference import reference_problem
from docling_hybrid_cli.quality.review import agreement
from docling_hybrid_cli.quality.scores import token_scores
from docling_hybrid_cli.quality.tokens import tokens
from docling_hybrid_cli.render import PdfRenderer, RenderOptions
from docling_hybrid_cli.samplepdf import write_benchmark_pdf
from docling_hybrid_cli.sim.pagebook import invented_text

GOOD = ("text layer", "shuffled + HTML", "tesseract", "noise 1 %", "noise 2 %", "noise 4 %")
BAD = ("drop 50 %", "drop 75 %", "invent +50 %", "invent +100 %", "all invented", "wrong page")


def noisy(text: str, share: float, rng: random.Random) -> str:
    """Replace ``share`` of the letters with a random other letter (OCR misreadings)."""
    chars = list(text)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    for i in rng.sample(letters, int(len(letters) * share)):
        chars[i] = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return "".join(chars)


def shuffled_html(markdown: str, rng: random.Random) -> str:
    """Paragraphs in another order, each in a table cell or heading as a model might write it."""
    blocks = markdown.split("\n\n")
    rng.shuffle(blocks)
    return "\n\n".join(
        f"<table><tr><td>{b}</td></tr></table>" if i % 2 else f"**{b}**"
        for i, b in enumerate(blocks)
    )


def words_of(text: str) -> list[str]:
    return text.split()


async def read_pages(pdf: Path, with_tesseract: bool) -> list[tuple[str, str | None]]:
    """(reading-order text, Tesseract's Markdown or None) for every page."""
    options = RenderOptions(extract_text=True)
    tesseract = build_backend(backend_config(name="tesseract")) if with_tesseract else None
    out: list[tuple[str, str | None]] = []
    async with PdfRenderer(pdf, options) as renderer:
        for number in range(1, renderer.page_count + 1):
            page = await renderer.render(number)
            ocr = None
            if tesseract is not None:
                try:
                    ocr = (await tesseract.ocr_page(page)).markdown
                except BackendError:
                    ocr = ""
            out.append((page.text_layer or "", ocr))
    return out


def score(answer: str, reference: list[str]) -> float:
    return agreement(token_scores(answer, reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pdfs", nargs="*", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with_tesseract = shutil.which("tesseract") is not None
    scores: dict[str, list[float]] = {kind: [] for kind in GOOD + BAD}
    skipped: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        generated = write_benchmark_pdf(Path(tmp) / "generated.pdf", 20, seed=args.seed)
        pages: list[tuple[str, str | None]] = []
        for pdf in [*args.pdfs, generated]:
            pages += asyncio.run(read_pages(pdf, with_tesseract))
    usable = []
    for layer, ocr in pages:
        problem = reference_problem(layer)
        if problem is not None:
            skipped[problem] = skipped.get(problem, 0) + 1
            continue
        usable.append((layer, ocr))
    for index, (layer, ocr) in enumerate(usable):
        reference = tokens(layer)
        markdown = text_to_markdown(layer)
        words = words_of(markdown)
        other = text_to_markdown(usable[(index + 1) % len(usable)][0])
        answers = {
            "text layer": markdown,
            "shuffled + HTML": shuffled_html(markdown, rng),
            "tesseract": ocr,
            "noise 1 %": noisy(markdown, 0.01, rng),
            "noise 2 %": noisy(markdown, 0.02, rng),
            "noise 4 %": noisy(markdown, 0.04, rng),
            "drop 50 %": " ".join(words[: len(words) // 2]),
            "drop 75 %": " ".join(words[: len(words) // 4]),
            "invent +50 %": markdown + "\n\n" + invented_text(len(words) // 2),
            "invent +100 %": markdown + "\n\n" + invented_text(len(words)),
            "all invented": invented_text(len(words)),
            "wrong page": other if len(usable) > 1 else None,
        }
        for kind, answer in answers.items():
            if answer is not None:
                scores[kind].append(score(answer, reference))
    rows = []
    print(f"{len(usable)} pages scored; skipped: {skipped or 'none'}")
    print(f"{'answer':<18} {'pages':>5} {'min':>6} {'median':>7} {'max':>6}")
    for kind, values in scores.items():
        if not values:
            print(f"{kind:<18} {'-':>5}")
            continue
        row = {
            "answer": kind,
            "good": kind in GOOD,
            "pages": len(values),
            "min": round(min(values), 3),
            "median": round(statistics.median(values), 3),
            "max": round(max(values), 3),
        }
        rows.append(row)
        print(f"{kind:<18} {len(values):>5} {row['min']:>6} {row['median']:>7} {row['max']:>6}")
    worst_good = min(r["min"] for r in rows if r["good"])
    best_bad = max(r["max"] for r in rows if not r["good"])
    print(f"worst good answer {worst_good}, best bad answer {best_bad}: ", end="")
    if worst_good > best_bad:
        print(f"any threshold between separates them; midpoint {(worst_good + best_bad) / 2:.2f}")
    else:
        print("they overlap")
    if args.json is not None:
        payload: dict[str, Any] = {"pages": len(usable), "skipped": skipped, "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
