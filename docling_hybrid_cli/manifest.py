"""Finished documents, recorded beside their outputs, so a corpus re-run skips them.

Page checkpoints are deleted once a document completes, so without a record
a crashed 10,000-document run would convert every finished document again.
Each output directory therefore holds a small manifest,
``.docling-hybrid-ocr.manifest.jsonl``: one line per finished document with
the output's name, a fingerprint of the settings that shape its Markdown,
the output's SHA-256, the input's size and whether every page converted.
``convert --skip-existing`` skips a document when all of these hold:

* its Markdown exists and is newer than its input;
* the manifest's last line for it has the same settings fingerprint (render
  settings, page range, page separator, and every chain backend's model,
  prompt and sampling -- not URLs, timeouts or concurrency, which change
  where and how fast, not what);
* the Markdown is byte for byte the one recorded (a file edited or written
  by something else is converted again), the input has the recorded size,
  and every page converted (a document with failed pages is not finished).

The manifest is append-only: a line is one ``write`` of a few hundred bytes
with ``O_APPEND``, so runs that share an output directory do not lose each
other's lines, and a line cut short by a crash is ignored. A manifest that
cannot be written costs nothing but the skip: the document is converted
again next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .formats import output_paths, primary_output
from .pipeline import DocumentJob, DocumentResult, figures_dir_for
from .settings import Settings

__all__ = ["MANIFEST_NAME", "FinishedDocuments", "settings_fingerprint"]

MANIFEST_NAME = ".docling-hybrid-ocr.manifest.jsonl"
_FORMAT = 1
_MAX_LINE_BYTES = 64 * 1024
"""Longer lines are not ours (a few hundred bytes each): they are skipped, not parsed."""

_RUNTIME_CONVERT_KEYS = {"concurrency", "render_ahead", "open_documents", "max_cost"}
"""``[convert]`` keys that change how fast or how dear a run is, never its Markdown.

Every other key (any added later too) is part of the fingerprint; each backend's
share is its ``output_identity``, the page cache's own.
"""


def settings_fingerprint(settings: Settings, pages: str | None) -> str:
    """Everything that shapes a document's Markdown, hashed: equal means same output."""
    material = {
        "format": _FORMAT,
        "pages": pages,
        "convert": settings.convert.model_dump(mode="json", exclude=_RUNTIME_CONVERT_KEYS),
        "chain": [cfg.output_identity() for cfg in settings.chain],
    }
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


@dataclass(frozen=True)
class _Entry:
    """One manifest line: what a finished document's output was, and from what."""

    settings: str
    sha256: str
    source_size: int
    complete: bool
    figures: int

    @classmethod
    def parse(cls, record: Any) -> tuple[str, _Entry] | None:
        """(output name, entry) from a decoded line, or None when it is not a valid one."""
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            return None
        fields = (
            record.get("output"),
            record.get("settings"),
            record.get("sha256"),
            record.get("source_size"),
            record.get("complete"),
            record.get("figures"),
        )
        name, settings, digest, size, complete, figures = fields
        if not (
            isinstance(name, str)
            and isinstance(settings, str)
            and isinstance(digest, str)
            and isinstance(size, int)
            and isinstance(complete, bool)
            and isinstance(figures, int)
        ):
            return None
        return name, cls(settings, digest, size, complete, figures)


class FinishedDocuments:
    """The manifests of one run's output directories: read once each, appended to as we go."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._dirs: dict[Path, dict[str, _Entry]] = {}

    def fingerprint(self, job: DocumentJob) -> str:
        return settings_fingerprint(self._settings, job.pages)

    def is_finished(self, job: DocumentJob) -> bool:
        """Whether ``job``'s outputs exist, are newer than its input and match the manifest.

        The manifest hashes the document's primary output (its Markdown, or
        the first format asked for without it); every other output asked for
        must exist too.
        """
        entry = self._entries(job.output.parent).get(job.output.name)
        if entry is None or not entry.complete or entry.settings != self.fingerprint(job):
            return False
        formats = self._settings.convert.to
        if not all(path.is_file() for path in output_paths(job.output, formats).values()):
            return False  # an output asked for is missing (deleted, or never written)
        primary = primary_output(job.output, formats)
        try:
            source, output = job.source.stat(), primary.stat()
        except OSError:
            return False
        if output.st_mtime_ns <= source.st_mtime_ns or source.st_size != entry.source_size:
            return False
        if entry.figures and _count_files(figures_dir_for(job.output)) < entry.figures:
            return False
        return _sha256(primary) == entry.sha256

    def record(self, result: DocumentResult) -> None:
        """Append the finished document's line to the manifest beside its output."""
        job = result.job
        try:
            digest = _sha256(primary_output(job.output, self._settings.convert.to))
            size = job.source.stat().st_size
        except OSError:
            return
        if digest is None:
            return
        figures = sum(len(p.text.figures) for p in result.pages if p.text is not None)
        line = {
            "format": _FORMAT,
            "output": job.output.name,
            "source": job.source.name,
            "settings": self.fingerprint(job),
            "sha256": digest,
            "source_size": size,
            "complete": not result.failed,
            "pages": len(result.pages),
            "figures": figures,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        path = job.output.parent / MANIFEST_NAME
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        parsed = _Entry.parse(line)
        if parsed is not None:
            self._entries(job.output.parent)[parsed[0]] = parsed[1]

    def _entries(self, directory: Path) -> dict[str, _Entry]:
        if directory not in self._dirs:
            self._dirs[directory] = _read_manifest(directory / MANIFEST_NAME)
        return self._dirs[directory]


def _read_manifest(path: Path) -> dict[str, _Entry]:
    """The last valid line per output name; a missing or unreadable manifest is empty."""
    entries: dict[str, _Entry] = {}
    try:
        with path.open("rb") as handle:
            for raw in handle:
                if len(raw) > _MAX_LINE_BYTES or not raw.endswith(b"\n"):
                    continue  # not ours, or cut short by a crash
                try:
                    parsed = _Entry.parse(json.loads(raw))
                except ValueError:
                    continue
                if parsed is not None:
                    entries[parsed[0]] = parsed[1]
    except OSError:
        return {}
    return entries


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _count_files(directory: Path) -> int:
    try:
        return sum(1 for entry in directory.iterdir() if entry.is_file())
    except OSError:
        return 0
