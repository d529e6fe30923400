"""Where ``convert`` writes: ``--to`` formats, ``-o -`` (Markdown to stdout), the report's place.

``-o -`` is for pipes (``docling-hybrid-ocr convert scan.pdf -o - | grep ...``):
the document is converted into a private temporary folder exactly as a file
output would be -- page by page, checkpointed, written atomically -- and the
finished Markdown is then copied to stdout, while progress and messages stay
on stderr. Figure crops are not kept (their links point to a
``<stem>_images/`` folder that is not written): use ``-o FILE`` for those.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..pages import PageResult, PageState
    from ..pipeline import DocumentJob, DocumentResult
    from .progress import PlainProgress, RichProgress

__all__ = [
    "ShownOutput",
    "check_stdout",
    "emit_markdown",
    "is_stdout",
    "show_stdout",
    "stdout_workdir",
]


def is_stdout(output: Path | None) -> bool:
    return output is not None and str(output) == "-"


def check_stdout(
    inputs: Sequence[Path], formats: Sequence[str], *, json_out: bool, skip_existing: bool
) -> None:
    """What ``-o -`` cannot be combined with, refused before anything is read or sent."""
    if len(inputs) != 1 or inputs[0].is_dir():
        raise UsageError(
            "-o - writes one document's Markdown to stdout: give one input file, "
            "or use -o DIR for several"
        )
    others = [fmt for fmt in formats if fmt != "md"]
    if others:
        flags = " ".join(f"--to {fmt}" for fmt in others)
        raise UsageError(f"-o - writes Markdown to stdout only; {flags} needs -o FILE or -o DIR")
    if json_out:
        raise UsageError("-o - and --json would both write to stdout; give one of them")
    if skip_existing:
        raise UsageError("--skip-existing needs output files; -o - writes to stdout")


@contextlib.contextmanager
def stdout_workdir() -> Iterator[Path]:
    """The private folder the document is converted into before it goes to stdout."""
    with tempfile.TemporaryDirectory(prefix="docling-hybrid-stdout-") as tmp:
        yield Path(tmp)


def emit_markdown(path: Path) -> None:
    """Copy the finished Markdown to stdout; a reader that went away (``| head``) is no error."""
    if not path.is_file():
        return  # the document could not be converted: the error is on stderr
    try:
        sys.stdout.flush()
        with path.open("rb") as handle:
            shutil.copyfileobj(handle, sys.stdout.buffer, 1 << 16)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would hit the closed pipe again when it flushes stdout at exit:
        # point the descriptor at /dev/null (the recipe of Python's signal docs).
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def show_stdout(documents: list[dict[str, Any]]) -> None:
    """Summaries and report entries name stdout, not the temporary file behind it."""
    for document in documents:
        document["output"] = "-"
        document["outputs"] = {"md": "-"}


class ShownOutput:
    """Progress that names the output the user gets, not the Markdown path a job is keyed on.

    With ``-o -`` that is stdout (not the temporary file behind it); without
    ``--to md`` it is the first format asked for (``doc.json``), not a
    ``doc.md`` that is never written. Every call passes the same renamed job
    (an equal, hashable value), so progress that keys on the job still matches.
    """

    def __init__(self, inner: PlainProgress | RichProgress, shown: Callable[[Path], Path]) -> None:
        self._inner = inner
        self._shown = shown

    def _job(self, job: DocumentJob) -> DocumentJob:
        return dataclasses.replace(job, output=self._shown(job.output))

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self._inner.document_started(self._job(job), pages)

    def page_state(self, job: DocumentJob, page: int, state: PageState, detail: str = "") -> None:
        self._inner.page_state(self._job(job), page, state, detail)

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        self._inner.page_finished(self._job(job), result)

    def document_finished(self, result: DocumentResult) -> None:
        self._inner.document_finished(dataclasses.replace(result, job=self._job(result.job)))

    def notice(self, message: str) -> None:
        self._inner.notice(message)

    def concurrency(self, limits: Mapping[str, Mapping[str, int]]) -> None:
        self._inner.concurrency(limits)

    def close(self) -> None:
        self._inner.close()
