"""Helpers for tests/e2e: the server under test, CLI results, test documents.

A plain module (not conftest) so test files can import it by a unique name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF

E2E_URL = os.environ.get("DOCLING_HYBRID_E2E_URL", "http://localhost:8000").rstrip("/")
E2E_URL = E2E_URL.removesuffix("/v1")
MODEL = os.environ.get("DOCLING_HYBRID_E2E_MODEL", "deepseek-ai/DeepSeek-OCR")

# Small images and answers keep a CPU server at ~20 s per request: a 640 px page
# is one 1024² global view (273 image tokens) and no tiles. The random-weight
# model never stops, so every request is cut off: a two-step loop ladder (the
# recipe guard, then a wide guard with a temperature) proves both kinds of step
# are accepted by the server at two requests a page instead of the shipped three.
E2E_LADDER = [
    {"ngram_size": 30, "window_size": 90},
    {"ngram_size": 40, "window_size": 512, "temperature": 0.2},
]
E2E_LADDER_STEPS = ["guard 30/90", "guard 40/512, temperature 0.2"]
"""How the report names the steps of E2E_LADDER."""


def _toml_inline(steps: list[dict[str, Any]]) -> str:
    tables = (", ".join(f"{k} = {v}" for k, v in step.items()) for step in steps)
    return "[" + ", ".join("{" + t + "}" for t in tables) + "]"


CLI_ENV = {
    "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__MAX_TOKENS": "16",
    "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__LOOP_LADDER": _toml_inline(E2E_LADDER),
    "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__TIMEOUT_S": "900",
    "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__MODEL": MODEL,
    "DOCLING_HYBRID_CONVERT__MAX_SIDE": "640",
    "DOCLING_HYBRID_RETRY__MAX_ATTEMPTS": "1",
}


@dataclass(frozen=True)
class Server:
    """The vLLM under test: its root URL and what ``/v1/models`` says about it."""

    url: str
    model: str
    max_model_len: int

    @property
    def api(self) -> str:
        return f"{self.url}/v1"


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    markdown: str


# ---- test documents (A4, real text layers, so a real OCR model has something to read)


def _pdf() -> FPDF:
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=12)
    return pdf


def make_text_pdf(path: Path, pages: int) -> Path:
    pdf = _pdf()
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 18)
        pdf.set_xy(60, 60)
        pdf.cell(0, 24, f"Section {n}")
        pdf.set_font("Helvetica", size=12)
        pdf.set_xy(60, 100)
        pdf.multi_cell(
            470,
            16,
            f"This is page {n} of a test document. The quick brown fox jumps over the "
            "lazy dog. Optical character recognition turns this page image into text.",
        )
    pdf.output(str(path))
    return path


def make_table_pdf(path: Path) -> Path:
    pdf = _pdf()
    pdf.add_page()
    pdf.set_xy(60, 60)
    pdf.cell(0, 20, "Table 1: Results")
    pdf.set_xy(60, 90)
    rows = [("Model", "Score", "Pages/s"), ("A", "87.4", "2.3"), ("B", "91.1", "2.1")]
    with pdf.table(width=400, col_widths=(200, 100, 100)) as table:
        for row in rows:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.output(str(path))
    return path


def make_formula_pdf(path: Path) -> Path:
    pdf = _pdf()
    pdf.add_page()
    pdf.set_xy(60, 60)
    pdf.multi_cell(470, 18, "The energy of a body at rest is E = mc^2, and")
    pdf.set_font("Times", "I", 16)
    pdf.set_xy(120, 110)
    pdf.cell(0, 24, "f(x) = sum_{n=0}^{inf} x^n / n!  =  e^x")
    pdf.set_xy(120, 150)
    pdf.cell(0, 24, "integral_0^1 x^2 dx = 1/3")
    pdf.output(str(path))
    return path
