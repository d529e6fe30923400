"""The honest accounting of a run: summary line data and the JSON report.

Reports carry settings that matter for reproducing a run (backends, models,
URLs, render settings) but never a key: only the *name* of the variable a key
is read from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import __version__
from .formats import output_paths, primary_output
from .keyguard import public_url
from .output import page_record
from .pages import PageResult
from .pipeline import DocumentResult
from .settings import Settings
from .spending import SpendingCap

__all__ = ["by_replica", "document_report", "document_summary", "suspect_pages"]


def suspect_pages(result: DocumentResult) -> list[int]:
    """Converted pages whose text disagrees with their own text layer: to be checked."""
    return [p.page for p in result.pages if p.quality is not None and p.quality.suspect]


def _quality_fields(page: PageResult) -> dict[str, Any]:
    """``text_layer_agreement`` on every page record, and why it is null or suspect."""
    if page.quality is None:
        return {"text_layer_agreement": None}
    return page.quality.report_fields()


def document_summary(result: DocumentResult, formats: Sequence[str] = ("md",)) -> dict[str, Any]:
    """Counts and rates for one document, as printed and as ``--json`` emits them.

    ``output`` is the document's primary output (its Markdown when asked
    for); ``outputs`` every file written for it, by format (``--to``).
    """
    pages = len(result.pages)
    seconds = max(result.seconds, 1e-9)
    stem = result.job.output
    return {
        "input": str(result.job.source),
        "output": str(primary_output(stem, formats)),
        "outputs": {fmt: str(path) for fmt, path in output_paths(stem, formats).items()},
        "pages": pages,
        "converted": len(result.converted),
        "empty": len(result.empty),
        "empty_pages": [p.page for p in result.empty],
        "failed": len(result.failed),
        "failed_pages": [p.page for p in result.failed],
        "suspect": len(suspect := suspect_pages(result)),
        "suspect_pages": suspect,
        "by_backend": result.by_backend,
        "by_replica": by_replica(result),
        "seconds": round(result.seconds, 3),
        "pages_per_s": round(pages / seconds, 3),
        "completion_tokens": result.completion_tokens,
        "prompt_tokens": sum((p.text.prompt_tokens or 0) for p in result.converted if p.text),
        "cost": round(sum((p.text.cost or 0.0) for p in result.converted if p.text), 6),
        "render_ms_per_page": round(result.render_ms / pages, 2) if pages else 0.0,
        "encode_ms_per_page": round(result.encode_ms / pages, 2) if pages else 0.0,
        "kb_per_page": round(result.image_bytes / 1024 / pages, 1) if pages else 0.0,
    }


def by_replica(result: DocumentResult) -> dict[str, int]:
    """Pages each server answered in this run, by URL: a pool's share per replica."""
    counts: dict[str, int] = {}
    for page in result.converted:
        if page.text is not None and page.text.replica and not page.from_cache:
            counts[page.text.replica] = counts.get(page.text.replica, 0) + 1
    return counts


def document_report(
    results: Sequence[DocumentResult],
    settings: Settings,
    spending: SpendingCap | None = None,
    *,
    engine: str = "local",
    nodes: int = 1,
    concurrency: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The ``--report`` manifest: every page of every document, with every error.

    ``concurrency``: each adaptive backend's replicas, their final limits and
    the bounded trace of how they got there (:mod:`~docling_hybrid_cli.concurrency`).

    ``cost`` is everything the servers reported in the run, failed attempts
    included (a page's own ``cost`` is its successful answer's), and the cap.
    ``engine`` says where pages were converted (``local``, or ``ray`` across
    ``nodes`` machines).
    """
    return {
        "tool": "docling-hybrid-ocr",
        "version": __version__,
        "engine": engine,
        "nodes": nodes,
        "chain": [_chain_entry(cfg.model_dump()) for cfg in settings.chain],
        "render": settings.convert.model_dump(include={"dpi", "max_side", "image_format"}),
        "style": settings.convert.model_dump(include={"tables", "math"}),
        "cost": (spending or SpendingCap(settings.convert.max_cost)).to_dict(),
        "concurrency": concurrency or {},
        "documents": [
            {
                **document_summary(r, settings.convert.to),
                "page_results": [{**page_record(p), **_quality_fields(p)} for p in r.pages],
            }
            for r in results
        ],
    }


def _chain_entry(config: dict[str, Any]) -> dict[str, Any]:
    """A backend as the report lists it; local backends have no model, URL or key."""
    return {
        "name": config["name"],
        "kind": config["kind"],
        "model": config.get("model", ""),
        "base_url": _public_urls(config.get("base_url") or ""),
        "api_key_env": config.get("api_key_env"),
    }


def _public_urls(base_url: str | list[str]) -> str | list[str]:
    """A backend's URL, or its replicas' URLs, without credentials."""
    if isinstance(base_url, list):
        return [public_url(url) for url in base_url]
    return public_url(base_url) if base_url else ""
