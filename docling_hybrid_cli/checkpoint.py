"""Page checkpoints: a re-run sends only the pages that are not done yet.

Every converted page is stored as soon as it finishes, under a key made of
the document's content hash, the render settings and the backend chain
(each backend's :meth:`output_identity`) -- everything that changes what a
page turns into. Re-running the same command after Ctrl-C, a crash or failed
pages reuses those pages and asks the servers only for the rest; changing the
model or the DPI starts afresh. Failed pages are never stored, so they are
always retried; empty pages are converted pages and are stored, with their
reason. Entries hold the structured page (its blocks: label, boxes, raw
text), the page's text and figure crops, never keys. The Markdown style
(``convert.tables``, ``convert.math``) is no part of the key: it is applied
when the output is written, so a re-run in another style re-renders the
stored pages without a request. An entry from before blocks were stored
is not reused: that page is converted again.

The cache is the user's own: directories are created 0700 and a root owned by
someone else, or writable by group or others, is refused (the run goes on
without checkpoints, with a warning). What is read back is still checked --
a figure name must be a plain file name -- so a doctored entry cannot make a
run write outside its output folder. Figure links are stored with a
placeholder for the ``<name>_images/`` prefix, so resuming into another
output name links to that output's own folder.

Location: ``[cache] dir`` in the config, else ``$XDG_CACHE_HOME`` (or
``~/.cache``) ``/docling-hybrid-ocr/pages``. ``docling-hybrid-ocr cache clear``
deletes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from .blocks import blocks_from_records, blocks_to_records
from .errors import OutputError
from .output import atomic_write_bytes, atomic_write_text, is_safe_figure_name
from .pages import Figure, PageResult, PageText
from .quality.record import PageQuality
from .settings import BackendConfig, ConvertSettings

__all__ = [
    "Checkpoints",
    "PageCache",
    "cache_dir_problem",
    "clear_cache",
    "default_cache_dir",
    "document_key",
]

_FORMAT = 2
"""The key's format: what a key is made of (a change starts every document afresh)."""
_RECORD_FORMAT = 3
"""An entry's format: 2 stored figure links with FIGURE_PREFIX_PLACEHOLDER for the output's
prefix, 3 added the page's blocks. An entry of another format is not reused: the page is
converted again."""
_CONVERT_KEY_IGNORES = {
    "concurrency",
    "render_ahead",
    "page_separator",
    "to",
    "max_cost",
    "tables",
    "math",
}
"""Run-shape settings and the Markdown style (applied when the output is written); every
other convert setting changes the page image, so it keys."""
FIGURE_PREFIX_PLACEHOLDER = "{{figures}}/"
"""Stands for the output's ``<name>_images/`` in stored links (``](prefix + name)``)."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "docling-hybrid-ocr" / "pages"


def document_key(
    content_hash: str, convert: ConvertSettings, chain: Sequence[BackendConfig]
) -> str:
    """Everything that changes a page's Markdown, hashed into a directory name."""
    material = {
        "format": _FORMAT,
        "document": content_hash,
        "render": convert.model_dump(mode="json", exclude=_CONVERT_KEY_IGNORES),
        "chain": [cfg.output_identity() for cfg in chain],
    }
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _make_private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parent, each 0700 (``mkdir -p`` would use 0777 - umask)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        # FileExistsError: a concurrent run made it a moment ago; it is checked like any other.
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)


def cache_dir_problem(directory: Path) -> str | None:
    """Why ``directory`` must not hold checkpoints, or None if it is ours alone.

    It must be a directory owned by the user running the tool and writable by
    no one else: another user who can write there could plant pages that a
    later run copies into its Markdown.
    """
    try:
        _make_private_dirs(directory)
        info = directory.stat()
    except OSError as exc:
        return f"cannot create cache dir {directory}: {exc.strerror or exc}"
    if not stat.S_ISDIR(info.st_mode):
        return f"cache dir {directory} is not a directory"
    if info.st_uid != os.geteuid():
        return f"cache dir {directory} belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.S_IMODE(info.st_mode)
        return f"cache dir {directory} is writable by other users (mode {mode:04o})"
    return None


class HashableSource(Protocol):
    """What the cache needs from an open document (a :class:`render.PageSource`)."""

    @property
    def encrypted(self) -> bool: ...

    async def content_sha256(self) -> str: ...


class Checkpoints:
    """The page cache of one run: where it is, what keys it, and whether it is still on.

    It turns itself off -- with one warning, for the rest of the run -- when
    its root is not safe to use or a checkpoint cannot be written (disk
    full, say): the conversion goes on without it. Pages of a document opened
    with a password are not stored unless ``cache_encrypted``, so the plain
    text of a protected document does not land on disk unasked.
    """

    def __init__(
        self,
        root: Path,
        convert: ConvertSettings,
        chain: Sequence[BackendConfig],
        *,
        warn: Callable[[str], None],
        cache_encrypted: bool = False,
    ) -> None:
        self.root = root
        self.convert = convert
        self.chain = list(chain)
        self.cache_encrypted = cache_encrypted
        self.off_reason: str | None = None
        self._warn = warn
        self._root_checked = False
        self._encrypted_noted = False

    @property
    def on(self) -> bool:
        return self.off_reason is None

    def turn_off(self, reason: str) -> None:
        """Stop storing and reusing pages for the rest of the run; warn once."""
        if self.off_reason is None:
            self.off_reason = reason
            self._warn(f"warning: {reason}; page checkpoints are off for the rest of this run")

    async def for_source(self, source: HashableSource, figure_prefix: str) -> PageCache | None:
        """The cache of one open document, or None when its pages are not to be kept."""
        if not self._root_checked:
            self._root_checked = True
            problem = cache_dir_problem(self.root)
            if problem is not None:
                self.turn_off(problem)
        if not self.on:
            return None
        if source.encrypted and not self.cache_encrypted:
            if not self._encrypted_noted:
                self._encrypted_noted = True
                self._warn(
                    "note: pages of password-protected documents are not checkpointed "
                    "(a re-run converts them again); --cache-encrypted stores them"
                )
            return None
        key = document_key(await source.content_sha256(), self.convert, self.chain)
        cache = PageCache(self.root, key, figure_prefix=figure_prefix, owner=self)
        if cache.dir.exists() and (problem := cache_dir_problem(cache.dir)) is not None:
            self.turn_off(problem)
            return None
        return cache


def _optional(value: Any, expected: type[Any]) -> Any:
    """``value`` if it is None or an ``expected`` (finite, for numbers); else ValueError.

    JSON accepts ``NaN``; a report written from it with ``allow_nan=False`` would not.
    """
    if value is None:
        return None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected or (expected is float and not math.isfinite(value)):
        raise ValueError(f"stored {value!r} is not a {expected.__name__}")
    return value


class PageCache:
    """The finished pages of one (document, settings) pair.

    ``figure_prefix`` is the current output's link prefix for figures
    (``report_images/``); ``owner`` is told when a write fails.
    """

    def __init__(
        self,
        root: Path,
        key: str,
        *,
        figure_prefix: str = "",
        owner: Checkpoints | None = None,
    ) -> None:
        self.root = root
        self.dir = root / key
        self.figure_prefix = figure_prefix
        self._owner = owner
        self._failed = False

    @property
    def active(self) -> bool:
        """False once a write failed (here or in another document of the run)."""
        return not self._failed and (self._owner is None or self._owner.on)

    def _entry(self, page: int) -> Path:
        return self.dir / f"page-{page:05d}.json"

    def load(self, page: int) -> PageResult | None:
        """The stored result of ``page``, or None (missing, unreadable, stale or doctored).

        None means the page is converted again, which is always safe. Reading
        goes on after a failed write: what is stored is still good.
        """
        try:
            record = json.loads(self._entry(page).read_text("utf-8"))
            names = record["figures"]
            if not isinstance(names, list) or not all(map(is_safe_figure_name, names)):
                return None  # a name like ../../x would be written outside the output folder
            if record.get("format") != _RECORD_FORMAT or record.get("page") != page:
                return None
            markdown = record["markdown"]
            if not isinstance(markdown, str):
                return None
            figures = tuple(
                Figure(name=name, data=(self.dir / "figures" / name).read_bytes()) for name in names
            )
            markdown = _relink(markdown, names, FIGURE_PREFIX_PLACEHOLDER, self.figure_prefix)
            blocks = tuple(
                replace(
                    b, text=_relink(b.text, names, FIGURE_PREFIX_PLACEHOLDER, self.figure_prefix)
                )
                for b in blocks_from_records(record["blocks"], names)
            )
            text = PageText(
                markdown=markdown,
                backend=str(record["backend"]),
                model=str(record["model"]),
                finish_reason=_optional(record.get("finish_reason"), str),
                prompt_tokens=_optional(record.get("prompt_tokens"), int),
                completion_tokens=_optional(record.get("completion_tokens"), int),
                cost=_optional(record.get("cost"), float),
                response_id=_optional(record.get("response_id"), str),
                figures=figures,
                step=str(record.get("step") or ""),
                empty_reason=_optional(record.get("empty_reason"), str),
                blocks=blocks,
                dollars_are_math=_flag(record["dollars_are_math"]),
            )
            quality = PageQuality.from_dict(record.get("quality"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return PageResult(page=page, text=text, attempts=0, from_cache=True, quality=quality)

    def store(self, result: PageResult) -> None:
        """Checkpoint a converted (or empty) page; failed pages are not, so they are retried.

        A write that fails turns the run's checkpoints off (with a warning)
        rather than failing the page: the page is converted either way.
        """
        if result.text is None or not self.active:
            return
        text = result.text
        try:
            self._store(result.page, text, result.quality)
        except OutputError as exc:
            self._failed = True
            if self._owner is not None:
                self._owner.turn_off(str(exc))
        except OSError as exc:  # creating the entry's directories
            self._failed = True
            if self._owner is not None:
                self._owner.turn_off(f"cannot write {self.dir}: {exc.strerror or exc}")

    def _store(self, page: int, text: PageText, quality: PageQuality | None = None) -> None:
        names = [f.name for f in text.figures]
        _make_private_dirs(self.dir)
        if text.figures:
            _make_private_dirs(self.dir / "figures")
        for figure in text.figures:
            if not is_safe_figure_name(figure.name):
                raise OutputError(f"refusing to store a figure named {figure.name!r}")
            atomic_write_bytes(self.dir / "figures" / figure.name, figure.data, private=True)
        # Links in a page's text (a backend that answered Markdown) name this run's
        # output folder: stored with the placeholder, so a re-run links its own.
        prefix = self.figure_prefix
        markdown = _relink(text.markdown, names, prefix, FIGURE_PREFIX_PLACEHOLDER)
        blocks = [
            replace(b, text=_relink(b.text, names, prefix, FIGURE_PREFIX_PLACEHOLDER))
            for b in text.page_blocks()
        ]
        record: dict[str, Any] = {
            "format": _RECORD_FORMAT,
            "page": page,
            "markdown": markdown,
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
            "blocks": blocks_to_records(blocks),
            "dollars_are_math": text.dollars_are_math,
            "quality": quality.to_dict() if quality is not None else None,
        }
        atomic_write_text(
            self._entry(page),
            json.dumps(record, ensure_ascii=False, allow_nan=False),
            private=True,
        )

    def clear(self) -> None:
        """Forget this document's pages (after a complete run they are no longer needed)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _relink(text: str, names: Sequence[str], old: str, new: str) -> str:
    """``text`` with its links to the figures ``names`` under prefix ``old`` moved to ``new``."""
    if not old or old == new:
        return text
    for name in names:
        text = text.replace(f"]({old}{name})", f"]({new}{name})")
    return text


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
