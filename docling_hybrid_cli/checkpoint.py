"""Page checkpoints: a re-run sends only the pages that are not done yet.

Every converted page is stored as soon as it finishes, under a key made of
the document's content hash, the render settings and the backend chain
(kind, model, prompt, sampling) — everything that changes what a page turns
into. Re-running the same command after Ctrl-C, a crash or failed pages
reuses those pages and asks the servers only for the rest; changing the
model or the DPI starts afresh. Failed pages are never stored, so they are
always retried; empty pages are converted pages and are stored, with their
reason. Entries hold the structured page (its blocks: label, boxes, raw
text), the page's text and figure crops, never keys. The Markdown style
(``convert.tables``, ``convert.math``) is no part of the key: it is applied
when the output is written, so a re-run in another style re-renders the
stored pages without a request. An entry from before blocks were stored
is not reused: that page is converted again.

Location: ``[cache] dir`` in the config, else ``$XDG_CACHE_HOME`` (or
``~/.cache``) ``/docling-hybrid-ocr/pages``. ``docling-hybrid-ocr cache clear``
deletes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .blocks import blocks_from_records, blocks_to_records
from .errors import InputError, InputNotFound, OutputError
from .output import atomic_write_bytes, atomic_write_text
from .pages import Figure, PageResult, PageText
from .settings import BackendConfig, ConvertSettings

__all__ = ["PageCache", "default_cache_dir", "document_key", "file_sha256"]

_FORMAT = 1
"""The key's format: what a key is made of (a change starts every document afresh)."""
_RECORD_FORMAT = 2
"""An entry's format: 2 added the page's blocks; an entry of another format is not reused."""
# What in a backend's config changes the Markdown it produces (its URL or timeouts do not).
_OUTPUT_AFFECTING_KEYS = {
    "kind",
    "name",
    "model",
    "prompt",
    "temperature",
    "max_tokens",
    "extra_body",
    "loop_ladder",
}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "docling-hybrid-ocr" / "pages"


def file_sha256(path: Path) -> str:
    """The document's identity: its bytes, not its name or mtime."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def document_key(
    content_hash: str, convert: ConvertSettings, chain: Sequence[BackendConfig]
) -> str:
    """Everything that changes a page's Markdown, hashed into a directory name."""
    material = {
        "format": _FORMAT,
        "document": content_hash,
        "render": convert.model_dump(
            include={"dpi", "max_side", "image_format", "jpeg_quality", "jpeg_subsampling"}
        ),
        "chain": [cfg.model_dump(include=_OUTPUT_AFFECTING_KEYS) for cfg in chain],
    }
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


class PageCache:
    """The finished pages of one (document, settings) pair."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self.dir = root / key

    @classmethod
    async def for_document(
        cls,
        root: Path,
        source: Path,
        convert: ConvertSettings,
        chain: Sequence[BackendConfig],
    ) -> PageCache:
        try:
            content_hash = await asyncio.to_thread(file_sha256, source)
        except FileNotFoundError:
            raise InputNotFound(f"{source} does not exist") from None
        except IsADirectoryError:
            raise InputNotFound(f"{source} is not a file") from None
        except OSError as exc:
            raise InputError(f"{source} cannot be read: {exc.strerror or exc}") from None
        return cls(root, document_key(content_hash, convert, chain))

    def _entry(self, page: int) -> Path:
        return self.dir / f"page-{page:05d}.json"

    def load(self, page: int) -> PageResult | None:
        """The stored result of ``page``, or None (missing, unreadable or stale format)."""
        try:
            record = json.loads(self._entry(page).read_text("utf-8"))
            if record.get("format") != _RECORD_FORMAT or record.get("page") != page:
                return None
            figures = tuple(
                Figure(name=name, data=(self.dir / "figures" / name).read_bytes())
                for name in record["figures"]
            )
            text = PageText(
                markdown=record["markdown"],
                backend=record["backend"],
                model=record["model"],
                finish_reason=record.get("finish_reason"),
                prompt_tokens=record.get("prompt_tokens"),
                completion_tokens=record.get("completion_tokens"),
                cost=record.get("cost"),
                response_id=record.get("response_id"),
                figures=figures,
                step=str(record.get("step") or ""),
                empty_reason=_optional_text(record.get("empty_reason")),
                blocks=blocks_from_records(record["blocks"], record["figures"]),
                dollars_are_math=_flag(record["dollars_are_math"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return PageResult(page=page, text=text, attempts=0, from_cache=True)

    def store(self, result: PageResult) -> None:
        """Checkpoint a converted (or empty) page; failed pages are not, so they are retried."""
        if result.text is None:
            return
        text = result.text
        for figure in text.figures:
            atomic_write_bytes(self.dir / "figures" / figure.name, figure.data, private=True)
        record: dict[str, Any] = {
            "format": _RECORD_FORMAT,
            "page": result.page,
            "markdown": text.markdown,
            "backend": text.backend,
            "model": text.model,
            "finish_reason": text.finish_reason,
            "prompt_tokens": text.prompt_tokens,
            "completion_tokens": text.completion_tokens,
            "cost": text.cost,
            "response_id": text.response_id,
            "figures": [f.name for f in text.figures],
            "step": text.step,
            "empty_reason": text.empty_reason,
            "blocks": blocks_to_records(text.page_blocks()),
            "dollars_are_math": text.dollars_are_math,
        }
        atomic_write_text(
            self._entry(result.page),
            json.dumps(record, ensure_ascii=False, allow_nan=False),
            private=True,
        )

    def clear(self) -> None:
        """Forget this document's pages (after a complete run they are no longer needed)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _optional_text(value: Any) -> str | None:
    """A stored reason is a string or absent; anything else marks a damaged entry."""
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string, not {type(value).__name__}")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, not {type(value).__name__}")
    return value


def clear_cache(root: Path) -> int:
    """Delete every checkpoint under ``root``; returns how many documents were removed."""
    if not root.is_dir():
        return 0
    count = 0
    for entry in root.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            count += 1
    try:
        root.rmdir()
    except OSError as exc:
        if root.exists() and any(root.iterdir()):
            raise OutputError(f"cannot remove cache dir {root}: {exc.strerror or exc}") from None
    return count
