"""The end of ``convert``: one line per document on stderr, and the ``--json`` summary."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from .convert_outputs import show_stdout

if TYPE_CHECKING:
    from ..batch import BatchResult
    from ..settings import Settings

__all__ = ["print_summary"]


def print_summary(
    batch: BatchResult, settings: Settings, *, json_out: bool, to_stdout: bool = False
) -> None:
    """One line per document on stderr (and JSON on stdout with --json)."""
    from ..redact import redact
    from ..report import document_summary

    summaries = [document_summary(doc, settings.convert.to) for doc in batch.documents]
    if to_stdout:
        show_stdout(summaries)
    if json_out:
        payload = {
            "engine": batch.engine,
            "nodes": batch.nodes,
            **({"ray": batch.engine_detail} if batch.engine_detail else {}),
            "documents": summaries,
            "unreadable": [
                {"input": str(f.job.source), "error": redact(str(f.error))} for f in batch.failures
            ],
            "skipped": [str(job.source) for job in batch.skipped],
            "not_written": [
                {
                    "input": str(f.job.source),
                    "output": str(f.job.output),
                    "error": redact(str(f.error)),
                }
                for f in batch.write_failures
            ],
            "seconds": round(batch.seconds, 3),
            "cost": batch.spending.to_dict(),
            "concurrency": batch.concurrency,
            "exit_code": batch.exit_code,
        }
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    for failure in [*batch.failures, *batch.write_failures]:
        sys.stderr.write(redact(f"error: {failure.error}") + "\n")
    for summary in summaries:
        by = ", ".join(f"{n} by {name}" for name, n in summary["by_backend"].items()) or "none"
        if len(summary["by_replica"]) > 1:
            shares = ", ".join(f"{n} by {url}" for url, n in summary["by_replica"].items())
            by += f" ({shares})"
        line = (
            f"{summary['converted']}/{summary['pages']} pages converted in "
            f"{summary['seconds']:.1f} s ({summary['pages_per_s']:.2f} pages/s; {by}; "
            f"{summary['completion_tokens']} tokens) -> {', '.join(summary['outputs'].values())}"
        )
        if summary["empty"]:
            empty_pages = ", ".join(map(str, summary["empty_pages"]))
            line += f"; {summary['empty']} empty: pages {empty_pages}"
        if summary["failed"]:
            failed_pages = ", ".join(map(str, summary["failed_pages"]))
            line += f"; {summary['failed']} FAILED: pages {failed_pages}"
        if summary["suspect"]:
            noun = "page" if summary["suspect"] == 1 else "pages"
            to_check = ", ".join(map(str, summary["suspect_pages"]))
            line += f"; {summary['suspect']} {noun} to check: {to_check}"
        sys.stderr.write(line + "\n")
    documents = len(summaries) + len(batch.failures) + len(batch.write_failures)
    if len(batch.skipped) == 1 and not documents:
        job = batch.skipped[0]
        sys.stderr.write(f"skipped {job.source}: {job.output} is up to date (--skip-existing)\n")
    elif documents + len(batch.skipped) > 1:
        total = sum(s["pages"] for s in summaries)
        converted = sum(s["converted"] for s in summaries)
        skipped = f"{len(batch.skipped)} skipped (already done), " if batch.skipped else ""
        not_written = f", {len(batch.write_failures)} not written" if batch.write_failures else ""
        sys.stderr.write(
            f"{len(summaries)} documents converted, {skipped}{len(batch.failures)} unreadable"
            f"{not_written}; {converted}/{total} pages in {batch.seconds:.1f} s\n"
        )
    spending = batch.spending
    if spending.limit is not None or spending.total > 0:
        line = f"cost: {spending.total:.4f} USD reported by the servers"
        if spending.limit is not None:
            line += f" (--max-cost {spending.limit:g}"
            line += (
                ": reached, later paid requests were not sent)"
                if (spending.total >= spending.limit)
                else ")"
            )
        sys.stderr.write(line + "\n")
    local = {
        name
        for doc in batch.documents
        for name in doc.by_backend
        if name in settings.backends.configs and not settings.backends.configs[name].needs_server
    }
    if local:
        sys.stderr.write(
            f"note: pages were converted locally by {', '.join(sorted(local))} (no OCR server "
            "answered); point the tool at a DeepSeek-OCR server with --base-url URL, "
            "and test it with: docling-hybrid-ocr check-server\n"
        )
