"""``benchmark --quality``: backends scored against a reference set whose answers are known.

``tests/fixtures/quality/page-N.md`` is the correct Markdown of the pages
``pdfgen.make_text_pdf`` draws (written from the generator's own sentences,
not from any backend's output), so a faithful backend must score near 1 and
a wrong reference must score low.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_text_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app

REFERENCES = Path(__file__).resolve().parents[1] / "fixtures" / "quality"


def bench(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["benchmark", "--concurrency", "2", "--latency", "0.01", "--report", str(report), *args],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    data = json.loads(report.read_text()) if report.exists() else {}
    return result.exit_code, data, result.stderr


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return make_text_pdf(tmp_path / "three.pdf", 3)


def test_text_layer_scores_high_against_the_reference_directory(tmp_path: Path, pdf: Path) -> None:
    code, data, stderr = bench(
        tmp_path, "--input", str(pdf), "--backend", "text-layer", "--reference-dir", str(REFERENCES)
    )
    assert code == 0, stderr
    quality = data["quality"]
    assert quality["reference"] == "directory quality"
    rows = quality["backends"]["text-layer"]["pages"]
    assert [row["page"] for row in rows] == [1, 2, 3]
    for row in rows:
        assert row["f1"] == 1.0 and row["edit_similarity"] > 0.95
        assert row["table_cells_f1"] is None
    assert "quality against directory quality" in stderr


def test_one_reference_file_with_page_marks(tmp_path: Path, pdf: Path) -> None:
    joined = "\n\n<!-- page 2 -->\n\n".join(
        [(REFERENCES / "page-1.md").read_text(), (REFERENCES / "page-2.md").read_text()]
    )
    reference = tmp_path / "ref.md"
    reference.write_text(joined)
    code, data, _ = bench(
        tmp_path, "--input", str(pdf), "--backend", "text-layer", "--reference", str(reference)
    )
    assert code == 0
    rows = data["quality"]["backends"]["text-layer"]["pages"]
    assert [row["page"] for row in rows] == [1, 2]  # page 3 has no reference: not scored
    assert all(row["f1"] == 1.0 for row in rows)


def test_a_wrong_reference_scores_low(tmp_path: Path, pdf: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for n in (1, 2, 3):  # each page's reference is another page's Markdown
        (wrong / f"page-{n}.md").write_text((REFERENCES / f"page-{n % 3 + 1}.md").read_text())
    _, data, _ = bench(
        tmp_path, "--input", str(pdf), "--backend", "text-layer", "--reference-dir", str(wrong)
    )
    mean = data["quality"]["backends"]["text-layer"]["mean"]
    assert mean["edit_similarity"] < 0.6
    assert mean["f1"] < 0.9


def test_simulated_run_reads_the_pages_and_scores_against_the_text_layer(
    tmp_path: Path, pdf: Path
) -> None:
    """Without a reference: the text layer; the simulated model reads each page faithfully."""
    code, data, _ = bench(tmp_path, "--input", str(pdf), "--quality")
    assert code == 0
    quality = data["quality"]
    assert quality["reference"] == "the PDF's text layer"
    (scores,) = quality["backends"].values()
    assert scores["mean"]["f1"] == 1.0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--reference-dir", "nowhere"], "not a directory"),
        (["--reference", "missing.md"], "cannot be read"),
    ],
)
def test_bad_references_are_one_line_exit_2(
    tmp_path: Path, pdf: Path, args: list[str], says: str
) -> None:
    code, _, stderr = bench(tmp_path, "--input", str(pdf), "--backend", "text-layer", *args)
    assert code == 2
    assert says in stderr and "Traceback" not in stderr
