"""The plain sections of the settings: how to convert, retry and cache.

Split from :mod:`docling_hybrid_cli.settings`, which resolves the layers and
holds the backends; import them from there.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .concurrency_setting import parse_concurrency
from .formats import JsonImages, OutputFormat
from .markdown_style import MarkdownStyle, MathStyle, TableStyle

__all__ = ["CacheSettings", "ConvertSettings", "RaySettings", "RetrySettings"]


class ConvertSettings(BaseModel):
    """How pages are rendered, sent and joined."""

    model_config = ConfigDict(extra="forbid")

    dpi: int = Field(default=144, ge=36, le=600)
    max_side: int = Field(default=2000, ge=256, le=20_000)
    image_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = Field(default=90, ge=30, le=100)
    jpeg_subsampling: Literal["4:2:0", "4:4:4"] = Field(
        default="4:2:0",
        description="Colour resolution of JPEG pages: 4:4:4 keeps small coloured text sharp.",
    )
    concurrency: int | Literal["auto"] = Field(
        default="auto",
        description='Pages in flight across the run: "auto" follows the first backend\'s '
        "limits (adaptive or fixed); a number caps them (-j N).",
    )
    render_ahead: int = Field(default=4, ge=1, le=256)
    open_documents: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Documents of a batch converted at once: the next opens when the open "
        "ones have handed every page to a request slot. 1: one after another.",
    )
    skip_blank_pages: bool = Field(
        default=True,
        description="A page without a text layer whose image is blank becomes an empty page "
        "without asking any backend.",
    )
    page_separator: str = "\n\n<!-- page {page} -->\n\n"
    to: tuple[OutputFormat, ...] = Field(
        default=("md",),
        min_length=1,
        description="Outputs per document, any combination: md (the Markdown), json (a "
        "DoclingDocument), html, text and doctags (exported from it); all but md need the "
        "docling extra. Written as <stem>.md, .json, .html, .txt and .doctags.",
    )
    json_images: JsonImages = Field(
        default="referenced",
        description="Figure crops in the DoclingDocument (and HTML): referenced (paths into "
        "<stem>_images/), embedded (data URIs inside the file) or none.",
    )
    tables: TableStyle = Field(
        default="markdown",
        description="Tables in the Markdown: GFM pipe tables (spanning cells repeated) "
        "or the model's HTML (for renderers that draw spans).",
    )
    math: MathStyle = Field(
        default="dollars",
        description="Math delimiters: $…$ and $$…$$ (literal dollars escaped), "
        "or the model's own LaTeX \\( \\) and \\[ \\].",
    )
    max_cost: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Spending cap for the run (USD): once the cost paid backends report "
        "reaches it, they send no new requests and pages go down the chain. None: no cap.",
    )
    text_agreement: bool = Field(
        default=True,
        description="Compare each page a model converted with the PDF's own text layer and "
        "report the agreement (0-1); pages below suspect_below are listed to check.",
    )
    suspect_below: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="A page whose agreement with its text layer (the lower of word precision "
        "and recall) is below this is "
        "suspect: converted, but listed in the summary and report to check.",
    )
    verify: bool = Field(
        default=False,
        description="Send a suspect page to the next backend of the chain that reads images "
        "and keep the answer that agrees better with the text layer (--verify).",
    )

    @field_validator("concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: object) -> object:
        return parse_concurrency(value)

    @property
    def markdown_style(self) -> MarkdownStyle:
        """How pages are written; applied at write time, so it is no part of a checkpoint's key."""
        return MarkdownStyle(tables=self.tables, math=self.math)

    @field_validator("page_separator")
    @classmethod
    def _separator_formats(cls, value: str) -> str:
        """Only the bare ``{page}`` placeholder: a format spec or attribute is refused.

        ``str.format`` would otherwise run whatever the field says --
        ``{page:>999999999999}`` allocates without bound, ``{page.__class__}``
        reaches into Python objects.
        """
        try:
            fields = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"may only use the {{page}} placeholder ({exc})") from None
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if name != "page" or spec or conversion:
                raise ValueError("may only use the {page} placeholder (no format spec)")
        return value


class RetrySettings(BaseModel):
    """Bounds on retrying one backend for one page before the chain moves on.

    The deadline is the bound that matters: transient failures are retried
    until it has passed, however many attempts that takes. The two attempt
    counts are optional caps, kept so that config files written when they
    were the only bound still load (and still cap); unset, they do not apply.
    """

    model_config = ConfigDict(extra="forbid")

    deadline_s: float = Field(
        default=300.0,
        ge=0.0,
        le=86_400.0,
        description="Seconds per page and backend in which transient failures are retried; "
        "a request already sent runs to its own timeout.",
    )
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Optional cap on attempts per page and backend (429s apart); "
        "unset: the deadline alone.",
    )
    rate_limit_attempts: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Optional cap on 429 answers per page and backend; unset: the deadline alone.",
    )
    backoff_initial_s: float = Field(default=0.25, ge=0.0, le=60.0)
    backoff_max_s: float = Field(default=30.0, ge=0.0, le=600.0)
    breaker_threshold: int = Field(
        default=3, ge=1, le=1000, description="Refused connections in a row that open a breaker."
    )
    breaker_cooldown_s: float = Field(
        default=30.0, ge=0.0, le=3600.0, description="How long an open breaker skips a backend."
    )


class CacheSettings(BaseModel):
    """Page checkpoints that make an interrupted run resumable."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    dir: str = Field(default="", description="Empty: $XDG_CACHE_HOME/docling-hybrid-ocr/pages.")


class RaySettings(BaseModel):
    """``convert --ray``: the batch as Ray tasks across a cluster (docs/SCALING.md)."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        default="",
        description="The cluster to join (ray://head:10001, or auto on a cluster node); "
        "--ray-address and RAY_ADDRESS come first. Empty: a local Ray instance the "
        "command starts and stops.",
    )
    local_cpus: int = Field(
        default=2,
        ge=1,
        le=1024,
        description="CPUs of the local Ray instance started when no address is given: "
        "how many documents (or page ranges) are converted at once.",
    )
    split_pages: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description="A document with more pages than this is split into ranges of this many "
        "pages, each its own task, so one long PDF uses many nodes.",
    )
    max_task_retries: int = Field(
        default=3,
        ge=0,
        le=100,
        description="Times Ray runs a task again after its worker or node died; pages the "
        "driver already has are not converted again.",
    )
    documents_in_flight: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="Documents open on the driver at once (their inputs in the object store, "
        "their outputs being written). 0: twice the cluster's CPUs.",
    )
