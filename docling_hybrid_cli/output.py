"""Markdown assembly in page order, atomic files, and the JSON report.

Pages finish out of order; :class:`MarkdownWriter` writes each one as soon as
every page before it is done, into a hidden ``.<name>.<random>.partial`` file
beside the target, and renames it into place only when the document is
complete. A crash therefore never leaves a file under the final name that
looks finished, while the partial file still holds every page written so far.

Every file is created new (``O_CREAT|O_EXCL|O_NOFOLLOW``) under a name no
one can guess in advance, then renamed: a symlink planted in the output
folder is never followed, so it cannot make a run truncate or overwrite the
file it points to. Writing the Markdown (or a figure) failing mid-run -- disk
full, file too large -- is an :class:`OutputWriteError` for that document.

A page's Markdown is rendered here, from its blocks, in the run's style
(:mod:`~docling_hybrid_cli.markdown_style`): whichever backend converted it,
and whether it was converted now or read back from a checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import OutputError, OutputWriteError
from .markdown_style import MarkdownStyle, render_markdown
from .pages import Figure, PageResult
from .quality.record import suspect_comment
from .redact import redact
from .textclean import html_comment_text

__all__ = [
    "MarkdownWriter",
    "atomic_write_bytes",
    "atomic_write_text",
    "failed_page_placeholder",
    "is_safe_figure_name",
    "page_record",
]

_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NAME_ATTEMPTS = 100
_SAFE_FIGURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_safe_figure_name(name: object) -> bool:
    """A plain file name: no separator, not hidden, not ``..`` -- it stays in its folder."""
    return isinstance(name, str) and _SAFE_FIGURE_NAME.fullmatch(name) is not None


def _new_file_beside(path: Path, suffix: str, mode: int) -> tuple[int, Path]:
    """Create a new hidden file ``.<name>.<random><suffix>`` next to ``path``.

    ``O_EXCL`` with ``O_NOFOLLOW``: whatever already has the name -- a file, a
    symlink planted by someone else -- makes the create fail, and another
    random name is tried. The umask applies to ``mode``. Not
    ``tempfile.mkstemp``: its files are always 0600, so figures and reports
    beside a 0644 Markdown file came out unreadable to everyone else.
    """
    for _ in range(_NAME_ATTEMPTS):
        candidate = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}"
        with contextlib.suppress(FileExistsError):
            return os.open(candidate, _NEW_FILE_FLAGS, mode), candidate
    raise FileExistsError(f"no free name for a new file beside {path}")


def _kept_mode(path: Path) -> int | None:
    """The mode of the regular file at ``path`` (not of a symlink's target), if there is one."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def atomic_write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename.

    The file gets the mode any new file gets (0666 less the umask), or keeps the
    mode of the file it replaces; ``private`` files (the page cache, config
    files that may name credentials) are 0600.
    """
    kept = None if private else _kept_mode(path)  # the mode of the file being replaced
    mode = 0o600 if private else 0o666 if kept is None else kept
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _new_file_beside(path, ".tmp", mode)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if kept is not None:
                os.fchmod(handle.fileno(), kept)  # the umask must not narrow a kept mode
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), private=private)


def failed_page_placeholder(result: PageResult) -> str:
    """A visible, greppable marker where a failed page's text would be."""
    reasons = "; ".join(
        f"{e.backend} ({e.step}): {e.error}" if e.step else f"{e.backend}: {e.error}"
        for e in result.errors
    )
    reasons = reasons or "no backend tried"
    reasons = html_comment_text(redact(reasons))
    return f"<!-- page {result.page} failed: {reasons} -->"


class MarkdownWriter:
    """Streams page Markdown to disk in page order; figures go to ``figures_dir``.

    The caller holds the output's lock (:class:`outputlock.OutputLock`) from
    :meth:`open` to :meth:`commit`: :meth:`open` removes partial files that
    earlier, interrupted runs left for the same output.
    """

    def __init__(
        self,
        path: Path,
        pages: Sequence[int],
        *,
        separator: str,
        figures_dir: Path,
        style: MarkdownStyle | None = None,
    ):
        self.path = path
        self.style = style or MarkdownStyle()
        self.partial_path = path.with_name(f".{path.name}.partial")  # the real name: open()
        self.figures_dir = figures_dir
        self._order = list(pages)
        self._separator = separator
        self._next = 0
        self._waiting: dict[int, str] = {}
        self._handle: IO[str] | None = None
        self.written_pages: list[int] = []

    def open(self) -> None:
        """Create the partial file; an :class:`OutputError` (nothing was sent yet) if it cannot."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._remove_stale_partials()
            fd, self.partial_path = _new_file_beside(self.path, ".partial", 0o666)
            self._handle = os.fdopen(fd, "w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _remove_stale_partials(self) -> None:
        """Partial files of this output from runs that were stopped (the lock is ours now)."""
        pattern = re.compile(re.escape(f".{self.path.name}.") + r"([0-9a-f]{12}\.)?partial")
        with os.scandir(self.path.parent) as entries:
            stale = [e.path for e in entries if pattern.fullmatch(e.name)]
        for entry in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry)  # a symlink is removed itself, never followed

    def add(self, result: PageResult) -> None:
        """Accept a finished page (any order); write whatever prefix is now complete."""
        if result.text is not None:
            self._write_figures(result.text.figures)
            # "" for an empty page: just the separator.
            prefix = f"{self.figures_dir.name}/"
            text = result.text
            body = render_markdown(
                text.page_blocks(), self.style, prefix, dollars_are_math=text.dollars_are_math
            ).strip()
            if result.quality is not None and result.quality.suspect is not None:
                note = suspect_comment(result.page, result.quality)
                body = f"{note}\n\n{body}" if body else note
        else:
            body = failed_page_placeholder(result)
        self._waiting[result.page] = body
        self._flush_ready()

    def _write_figures(self, figures: Iterable[Figure]) -> None:
        for figure in figures:
            if not is_safe_figure_name(figure.name):
                raise OutputWriteError(f"refusing to write a figure named {figure.name!r}")
            try:
                atomic_write_bytes(self.figures_dir / figure.name, figure.data)
            except OutputError as exc:
                raise OutputWriteError(str(exc)) from None

    def _flush_ready(self) -> None:
        assert self._handle is not None, "open() first"
        try:
            while self._next < len(self._order) and self._order[self._next] in self._waiting:
                page = self._order[self._next]
                body = self._waiting.pop(page)
                if self._next > 0:
                    self._handle.write(self._separator.format(page=page))
                self._handle.write(body)
                self.written_pages.append(page)
                self._next += 1
            self._handle.flush()
        except OSError as exc:
            raise OutputWriteError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    @property
    def complete(self) -> bool:
        return self._next == len(self._order)

    def commit(self) -> None:
        """Finish the file and move it to its final name."""
        assert self._handle is not None, "open() first"
        try:
            self._handle.write("\n")
            self._handle.flush()
            kept = _kept_mode(self.path)
            if kept is not None:  # a re-run keeps the output's mode
                os.fchmod(self._handle.fileno(), kept)
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self.partial_path, self.path)
        except OSError as exc:
            raise OutputWriteError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Stop without committing: the partial file keeps what was written."""
        if self._handle is not None and not self._handle.closed:
            with contextlib.suppress(OSError):  # a full disk fails the last flush too
                self._handle.close()

    def discard(self) -> None:
        """Stop and remove the partial file (after a write error it is cut short anyway)."""
        self.close()
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self.partial_path.unlink()


def page_record(result: PageResult) -> dict[str, Any]:
    """One page's entry in the JSON report."""
    record: dict[str, Any] = {
        "page": result.page,
        "status": "converted" if result.ok else "failed",
        "empty": result.empty,
        "attempts": result.attempts,
        "latency_s": round(result.latency_s, 4),
        "from_cache": result.from_cache,
    }
    if result.text is not None:
        text = result.text
        record.update(
            empty_reason=redact(text.empty_reason) if text.empty_reason is not None else None,
            backend=text.backend,
            model=text.model,
            step=text.step or None,
            finish_reason=text.finish_reason,
            prompt_tokens=text.prompt_tokens,
            completion_tokens=text.completion_tokens,
            cost=text.cost,
            response_id=text.response_id,
            replica=text.replica or None,
            figures=[f.name for f in text.figures],
            chars=len(text.markdown),
        )
    record["errors"] = [
        {
            "backend": e.backend,
            "kind": e.kind,
            "status": e.status,
            "step": e.step or None,
            "error": redact(e.error),
        }
        for e in result.errors
    ]
    return record


def write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(
        path, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
