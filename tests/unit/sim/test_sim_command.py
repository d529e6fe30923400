"""`python -m docling_hybrid_cli.sim` announces its URL, serves, and stops on SIGTERM."""

from __future__ import annotations

import select
import signal
import subprocess
import sys

import httpx
import pytest
from sim_support import CHAT, REPO_ROOT, chat_body, jpeg_b64

from docling_hybrid_cli.sim import main
from docling_hybrid_cli.sim.command import _parser


def test_main_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid settings end with a usage error, not a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--faults", "500,bogus"])
    assert exit_info.value.code == 2
    assert "unknown fault kinds" in capsys.readouterr().err


def test_main_rejects_a_bad_loop_period(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--empty-for-blank", "--loop-period", "0", "--loop-escape-temperature", "0.2"])
    assert exit_info.value.code == 2
    assert "loop_period must be positive" in capsys.readouterr().err


def test_cli_prints_listening_line_and_stops_on_sigterm() -> None:
    """`python -m docling_hybrid_cli.sim` announces its URL, serves, and exits 0 on SIGTERM."""
    command = [sys.executable, "-m", "docling_hybrid_cli.sim", "--port", "0"]
    command += ["--style", "plain", "--latency", "0", "--seed", "1"]
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 20)
            assert ready, "no listening line within 20 s"
            line = process.stdout.readline().strip()
            assert line.startswith("mock server listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            answer = httpx.post(url + CHAT, json=chat_body(jpeg_b64(320, 200))).json()
            assert answer["choices"][0]["message"]["content"].startswith("# Page 320x200")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            assert process.stderr is not None
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_flags_for_a_misconfigured_or_warming_server() -> None:
    """--no-ngram-processor and --warmup reach the server's settings."""
    args = _parser().parse_args(["--no-ngram-processor", "--warmup", "30"])
    assert args.ngram_processor is False
    assert args.warmup == 30.0
    defaults = _parser().parse_args([])
    assert defaults.ngram_processor is True
    assert defaults.warmup == 0.0
