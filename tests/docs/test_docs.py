"""The docs' examples must work: every TOML block validates, every command parses.

Scans ``docs/*.md`` and ``README.md`` (whichever exist, so docs added later
are picked up) and is strict about what they contain:

- each `````toml`` block is a config file that ``docling-hybrid-ocr config
  validate FILE`` accepts (show deliberately broken examples as `````text``);
- each ``docling-hybrid-ocr …`` command in a `````bash``/`````sh`` block parses:
  run with ``--help`` appended it exits 0, so its command and options exist
  (commands that need a server or a GPU are only parsed, never run);
- each repository file a command names (``scripts/…``, ``configs/…``) exists,
  and each ``make`` target is defined in the Makefile.

docs/TROUBLESHOOTING.md must list the tool's error messages: the table at the
end names a stable fragment of each.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [p for p in [ROOT / "README.md"] if p.exists()]
SHELL_LANGS = ("bash", "sh", "shell", "console")
REPO_DIRS = ("scripts/", "configs/", "samples/", "docs/", "tests/")


def _blocks(path: Path, langs: tuple[str, ...]) -> list[str]:
    text = path.read_text("utf-8")
    return [
        body
        for lang, body in re.findall(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.S | re.M)
        if lang in langs
    ]


def _toml_examples() -> list[tuple[str, str]]:
    return [
        (f"{path.name}#{i}", block)
        for path in DOCS
        for i, block in enumerate(_blocks(path, ("toml",)), 1)
    ]


def _shell_commands() -> list[tuple[str, list[str]]]:
    """Every simple command in the docs' shell blocks, split on ``&&``, ``||``, ``;`` and ``|``."""
    found: list[tuple[str, list[str]]] = []
    for path in DOCS:
        for block in _blocks(path, SHELL_LANGS):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                line = line.strip().removeprefix("$ ")
                if not line or line.startswith("#"):
                    continue
                lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
                lexer.whitespace_split = True
                lexer.commenters = "#"
                command: list[str] = []
                for token in [*lexer, ";"]:
                    if token and set(token) <= set(";&|"):
                        if command:
                            found.append((f"{path.name}: {' '.join(command)}", command))
                        command = []
                    else:
                        command.append(token)
    return found


def _without_env(tokens: list[str]) -> list[str]:
    """Drop leading ``NAME=value`` assignments."""
    i = 0
    while i < len(tokens) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[i]):
        i += 1
    return tokens[i:]


def _cli_commands() -> list[tuple[str, list[str]]]:
    out = []
    for where, tokens in _shell_commands():
        tokens = _without_env(tokens)
        if tokens and Path(tokens[0]).name == "docling-hybrid-ocr":
            out.append((where, tokens[1:]))
    return out


def test_the_docs_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"QUICK_START.md", "DEPLOYMENT_VLLM.md", "TROUBLESHOOTING.md"} <= names


@pytest.mark.parametrize(
    ("where", "block"), [pytest.param(w, b, id=w) for w, b in _toml_examples()]
)
def test_toml_example_validates(where: str, block: str, tmp_path: Path) -> None:
    config = tmp_path / "example.toml"
    config.write_text(block, "utf-8")
    result = CliRunner().invoke(app, ["config", "validate", str(config)])
    assert result.exit_code == 0, f"{where}:\n{block}\n{result.output}"


@pytest.mark.parametrize(
    ("where", "args"), [pytest.param(w, a, id=w[:70]) for w, a in _cli_commands()]
)
def test_cli_example_parses(where: str, args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"{where}\n{result.output}"
    assert "No such command" not in result.output
    assert "No such option" not in result.output


def test_docs_show_cli_examples() -> None:
    assert len(_cli_commands()) >= 10


def test_repository_paths_and_make_targets_in_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    for where, tokens in _shell_commands():
        tokens = _without_env(tokens)
        if not tokens:
            continue
        if tokens[0] == "make":
            for target in tokens[1:]:
                if not target.startswith("-") and "=" not in target:
                    assert re.search(rf"^{re.escape(target)}:", makefile, re.M), where
        for token in tokens:
            if token.startswith(REPO_DIRS):
                path = token.split(":", 1)[0]
                assert (ROOT / path).exists(), f"{where}: {path} does not exist"


# ---- TROUBLESHOOTING.md covers the tool's messages

MESSAGES = [
    # input (inputfile.py, pdfdoc.py, pageranges.py, jobs.py)
    "does not exist",
    "is a directory, not a PDF file",
    "is not a regular file",
    "cannot be read:",
    "is empty",
    "is not a PDF (no %PDF- header in its first 1024 bytes)",
    "is neither a PDF nor a PNG, JPEG or TIFF image",
    "is damaged: pdfium cannot parse it",
    "has no pages (pdfium found no page tree)",
    "needs a password",
    "wrong password for",
    "uses an unsupported encryption scheme",
    "invalid page range",
    "selects no pages",
    "no files matching",
    # settings and config files (settings.py, config_file.py, backends/, batch.py)
    "config file not found:",
    "invalid TOML in",
    "invalid setting",
    "unknown key",
    "unknown backend",
    "needs a base_url",
    "must start with http:// or https://",
    "is not available",
    "over plain HTTP to",
    "config file already exists:",
    # output
    "cannot write",
    "would both write",
    "interrupted: converted pages are checkpointed",
    # servers (client.py, breaker.py, backends/)
    "cannot connect to",
    "timed out",
    "no answer from",
    "dropped",
    "skipped, the server refused connections",
    "HTTP 400",
    "HTTP 401",
    "HTTP 404",
    "HTTP 429",
    "is not set",
    "answer cut off at max_tokens (probable repetition loop)",
    "answer cut off by the server's repetition detection",
    "answer withheld by the server's content filter",
    "the server aborted the answer",
    "answer held only layout tags, no text",
    "empty answer",
    "empty answer after cleaning",
    "blank page: no text layer and a near-uniform image",
    "no backend found text (",
    "answer has no choices",
    "answer is not JSON",
    "server reported an error:",
    "generation failed mid-answer",
    "daily request quota is used up",
    "spending cap reached",
    "has no text layer (a scanned image?)",
    "tesseract is not installed",
    # check-server (health.py)
    "nothing answers at",
    "the server is still warming up, or its engine is dead",
    "is not served (serves:",
    "API key rejected",
    "without DeepSeek's n-gram logits processor",
    "could not tell whether the n-gram repetition guard is active",
    "OpenRouter has no model",
    "is not available to this key",
    "could not check that this key may use the model",
    # scripts
    "nvidia-smi not found",
    "vllm not found on PATH",
]


def test_troubleshooting_lists_every_message() -> None:
    text = (ROOT / "docs" / "TROUBLESHOOTING.md").read_text("utf-8")
    missing = [m for m in MESSAGES if m not in text]
    assert not missing, f"TROUBLESHOOTING.md lacks: {missing}"


@pytest.mark.parametrize("message", MESSAGES)
def test_message_still_exists_in_the_code(message: str) -> None:
    """The table above tracks real messages: one the code no longer prints must go."""
    sources = [*(ROOT / "docling_hybrid_cli").rglob("*.py"), *(ROOT / "scripts").glob("*.sh")]
    fragment = message.replace("HTTP 4", "HTTP {")
    if fragment.startswith("HTTP {"):
        return  # statuses are formatted at run time: "HTTP {status}"
    assert any(fragment in p.read_text("utf-8") for p in sources), message
