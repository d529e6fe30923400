"""Convert many documents in one run, with one chain and one set of connections.

Documents overlap (:mod:`~docling_hybrid_cli.scheduler`): one set of request
slots for the whole run, and the next document starts while the last pages
of the previous one are in flight. They share the backend chain so
connection pools and circuit breakers carry over: a dead primary is
discovered once per run, not once per file. A file that cannot be read is
recorded and skipped; it never stops the others, and neither does a document
whose output could not be written (disk full): its converted pages stay
checkpointed for a re-run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import build_chain
from .checkpoint import Checkpoints, default_cache_dir
from .errors import (
    EXIT_OK,
    EXIT_PAGES_FAILED,
    EXIT_USAGE,
    DoclingHybridError,
    OutputWriteError,
    UsageError,
)
from .manifest import FinishedDocuments
from .pipeline import ConvertObserver, DocumentJob, DocumentResult, convert_document
from .scheduler import convert_overlapping
from .settings import Settings
from .slots import request_slots
from .spending import SpendingCap
from .turns import DocumentTurn

__all__ = ["BatchResult", "FileFailure", "convert_batch"]


@dataclass(frozen=True)
class FileFailure:
    """A document that could not be converted at all (unreadable, bad page range, ...)."""

    job: DocumentJob
    error: DoclingHybridError


@dataclass
class BatchResult:
    """``failures``: unusable inputs; ``write_failures``: outputs that could not be written."""

    documents: list[DocumentResult] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    skipped: list[DocumentJob] = field(default_factory=list)
    """Documents ``--skip-existing`` found already converted with the same settings."""
    write_failures: list[FileFailure] = field(default_factory=list)
    seconds: float = 0.0
    spending: SpendingCap = field(default_factory=SpendingCap)
    """Every cost the servers reported in this run, failed attempts included, and the cap."""
    concurrency: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Adaptive backends' replica limits at the end, each with its bounded trace."""
    engine: str = "local"
    """Where the pages were converted: ``local`` (this process) or ``ray`` (``convert --ray``)."""
    nodes: int = 1
    """Machines that converted pages: 1 locally, the Ray nodes that ran tasks with ``--ray``."""
    engine_detail: dict[str, Any] = field(default_factory=dict)
    """What the engine did beyond the pages (Ray: tasks, retries, the shared budget's figures)."""

    @property
    def exit_code(self) -> int:
        """2 if a file was unusable, else 1 if a page or an output failed, else 0."""
        if self.failures:
            return EXIT_USAGE
        if self.write_failures or any(doc.failed for doc in self.documents):
            return EXIT_PAGES_FAILED
        return EXIT_OK


def cache_root(settings: Settings) -> Path:
    return Path(settings.cache.dir).expanduser() if settings.cache.dir else default_cache_dir()


def open_checkpoints(
    settings: Settings, observer: ConvertObserver, *, use_cache: bool, cache_encrypted: bool
) -> Checkpoints | None:
    """The run's page checkpoints, or None when the cache is off (``--no-cache`` or config)."""
    if not (use_cache and settings.cache.enabled):
        return None
    return Checkpoints(
        cache_root(settings),
        settings.convert,
        settings.chain,
        warn=observer.notice,
        cache_encrypted=cache_encrypted,
    )


async def convert_batch(
    jobs: Sequence[DocumentJob],
    settings: Settings,
    observer: ConvertObserver,
    *,
    use_cache: bool = True,
    skip_existing: bool = False,
    cache_encrypted: bool = False,
) -> BatchResult:
    """Convert every job; input errors of one file are recorded, not raised.

    With a single job its input error is raised instead, so the one-file case
    reads like any other command failing. An output that cannot be written
    mid-run is recorded in ``write_failures`` (exit 1) in either case.
    ``cache_encrypted`` lets pages of password-protected PDFs be checkpointed.
    Every converted document is recorded in the manifest beside its output;
    with ``skip_existing`` a document that manifest shows finished is not
    converted again.
    """
    started = time.perf_counter()
    result = BatchResult(spending=SpendingCap(settings.convert.max_cost))
    chain = build_chain(settings, spending=result.spending)
    extract_text = any(backend.needs_text_layer for backend in chain.backends)
    finished = FinishedDocuments(settings)
    checkpoints = open_checkpoints(
        settings, observer, use_cache=use_cache, cache_encrypted=cache_encrypted
    )
    pending: list[DocumentJob] = []
    for job in jobs:
        if skip_existing and finished.is_finished(job):
            result.skipped.append(job)
        else:
            pending.append(job)

    async def convert_one(job: DocumentJob, turn: DocumentTurn) -> DocumentResult | FileFailure:
        try:
            document = await convert_document(
                job,
                chain,
                settings.convert,
                observer,
                extract_text=extract_text,
                checkpoints=checkpoints,
                turn=turn,
            )
        except UsageError as exc:
            if len(jobs) == 1:
                raise
            return FileFailure(job, exc)
        except OutputWriteError as exc:
            return FileFailure(job, exc)
        finished.record(document)  # now, not at the end: Ctrl-C later keeps it skippable
        return document

    try:
        outcomes = await convert_overlapping(
            pending,
            convert_one,
            request_slots(settings.convert.concurrency, chain.request_capacity()),
            open_documents=settings.convert.open_documents,
            render_ahead=settings.convert.render_ahead,
        )
    finally:
        result.concurrency = chain.concurrency_report()
        await chain.aclose()
    for outcome in outcomes:
        if isinstance(outcome, DocumentResult):
            result.documents.append(outcome)
        elif isinstance(outcome.error, OutputWriteError):
            result.write_failures.append(outcome)
        else:
            result.failures.append(outcome)
    result.seconds = time.perf_counter() - started
    return result
