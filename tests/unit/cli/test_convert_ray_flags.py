"""``convert --ray`` refusals that need no Ray: the extra missing, an address without --ray."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app


def test_ray_without_the_extra_says_how_to_install_it_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as when not installed
    pdf = make_pdf(tmp_path / "a.pdf", 1)
    result = CliRunner().invoke(app, ["convert", str(pdf), "--ray"])
    assert result.exit_code == 2, result.output
    assert "pip install 'docling-hybrid-ocr[ray]'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "a.md").exists()


def test_a_ray_address_needs_ray(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "a.pdf", 1)
    result = CliRunner().invoke(app, ["convert", str(pdf), "--ray-address", "auto"])
    assert result.exit_code == 2
    assert "--ray-address needs --ray" in result.output


def test_help_and_a_local_run_do_not_import_ray() -> None:
    """Ray is heavy (~250 MB, seconds to import): only --ray may load it."""
    import subprocess

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from docling_hybrid_cli.cli import app\n"
        "CliRunner().invoke(app, ['convert', '--help'])\n"
        "import docling_hybrid_cli.batch, docling_hybrid_cli.cli.convert\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
