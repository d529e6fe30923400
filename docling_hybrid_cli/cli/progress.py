"""Progress for people (rich, on a TTY) and for logs (plain lines otherwise).

Both implement the pipeline's ``ConvertObserver``; the pipeline never knows
which one it talks to. Everything goes to stderr so stdout stays clean for
``--json``.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..pages import PageResult, PageState
    from ..pipeline import DocumentJob, DocumentResult

__all__ = ["PlainProgress", "RichProgress", "describe_limits", "make_progress"]


def describe_limits(limits: Mapping[str, Mapping[str, int]]) -> str:
    """``deepseek-vllm 42`` or, for a pool, ``deepseek-vllm 40 (gpu1:8000 21, gpu2:8000 19)``."""
    parts = []
    for backend, replicas in limits.items():
        total = sum(replicas.values())
        text = f"{backend} {total}"
        if len(replicas) > 1:
            text += " (" + ", ".join(f"{_host(url)} {n}" for url, n in replicas.items()) + ")"
        parts.append(text)
    return "; ".join(parts)


def _host(url: str) -> str:
    """A replica as the progress shows it: host and port, without scheme and path."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


_STATE_STYLE: dict[PageState, str] = {
    "rendering": "cyan",
    "queued": "dim",
    "sent": "blue",
    "retrying": "yellow",
    "falling back": "magenta",
    "done": "green",
    "failed": "red",
}


@dataclass
class _Tally:
    """One document's counts, for its progress line or bar."""

    total: int
    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    failed: int = 0
    empty: int = 0
    task: Any = None
    """Its bar in the rich display."""

    def count(self, result: PageResult) -> None:
        self.done += 1
        if not result.ok:
            self.failed += 1
        elif result.text is not None and result.text.empty_reason is not None:
            self.empty += 1

    @property
    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.started, 1e-9)


class PlainProgress:
    """One line per finished page and per retry: greppable, no control codes.

    Every line names its document: in a batch the next document starts while
    the last pages of the previous one are still in flight.
    """

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self._documents: dict[DocumentJob, _Tally] = {}
        self._limits = ""

    def _line(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self._documents[job] = _Tally(total=len(pages))
        self._line(f"converting {job.source} ({len(pages)} pages) -> {job.output}")

    def page_state(self, job: DocumentJob, page: int, state: PageState, detail: str = "") -> None:
        if state == "retrying" or self.verbose:
            self._line(f"{job.source} page {page}: {state}" + (f": {detail}" if detail else ""))

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        tally = self._documents.setdefault(job, _Tally(total=0))
        tally.count(result)
        if result.text is not None and result.text.empty_reason is not None:
            how = f"empty: {result.text.empty_reason}"
        elif result.text is not None:
            how = f"converted by {result.text.backend} in {result.latency_s:.1f} s"
        else:
            how = "FAILED: " + "; ".join(f"{e.backend}: {e.error}" for e in result.errors)
        limits = f", limit {self._limits}" if self._limits else ""
        self._line(
            f"{job.source} page {result.page} ({tally.done}/{tally.total}, "
            f"{tally.rate:.2f} pages/s{limits}) {how}"
        )

    def document_finished(self, result: DocumentResult) -> None:
        self._documents.pop(result.job, None)

    def notice(self, message: str) -> None:
        self._line(message)

    def concurrency(self, limits: Mapping[str, Mapping[str, int]]) -> None:
        """Kept for the next page line: slow start changes it on every answer."""
        self._limits = describe_limits(limits)

    def close(self) -> None:
        return None


_ROWS = 12
"""Pages in flight listed under the bars; the rest are counted in one line."""


class RichProgress:
    """A live bar per open document (done/total, pages/s, ETA, failures) above the pages in flight.

    One display for the whole batch: documents overlap, so a bar is added when
    a document starts and replaced by a one-line record when it finishes.
    """

    def __init__(self, *, verbose: bool = False) -> None:
        from rich.console import Console

        self.verbose = verbose
        self.console = Console(stderr=True)
        self._live: Any = None
        self._progress: Any = None
        self._documents: dict[DocumentJob, _Tally] = {}
        self._states: dict[tuple[int, int], tuple[str, PageState, str]] = {}
        """(document rank, page) -> (label, state, detail): sorted, the oldest document first."""
        self._ranks: dict[DocumentJob, int] = {}
        self._started = itertools.count()
        self._limits = ""

    def _start(self) -> None:
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            expand=True,
        )
        self._live = Live(self._render(), console=self.console, refresh_per_second=8)
        self._live.start()

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        if self._live is None:
            self._start()
        tally = self._documents[job] = _Tally(total=len(pages))
        self._ranks[job] = next(self._started)
        tally.task = self._progress.add_task(
            job.source.name, total=len(pages), rate="0.00 pages/s", failed=""
        )
        self._refresh()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, min_width=10)
        table.add_column(no_wrap=True, min_width=12)
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        several = len(self._documents) > 1
        for (_, page), (label, state, detail) in sorted(self._states.items())[:_ROWS]:
            where = f"{label} p. {page}" if several else f"page {page}"
            table.add_row(where, Text(state, style=_STATE_STYLE[state]), Text(detail[:90]))
        hidden = len(self._states) - _ROWS
        if hidden > 0:
            table.add_row("", f"… {hidden} more in flight", "")
        parts = [self._progress] if self._progress is not None else []
        if self._limits:
            parts.append(Text(f"in flight at most: {self._limits}"))
        return Group(*parts, table)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _key(self, job: DocumentJob, page: int) -> tuple[int, int]:
        if job not in self._ranks:
            self._ranks[job] = next(self._started)
        return self._ranks[job], page

    def page_state(self, job: DocumentJob, page: int, state: PageState, detail: str = "") -> None:
        if state == "sent":
            detail = f"→ {detail}"
        self._states[self._key(job, page)] = (job.source.name, state, detail)
        self._refresh()

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        from rich.markup import escape

        self._states.pop(self._key(job, result.page), None)
        tally = self._documents.setdefault(job, _Tally(total=0))
        tally.count(result)
        if not result.ok:
            last = result.errors[-1] if result.errors else None
            reason = f"{last.backend}: {last.error}" if last else "failed"
            where = escape(f"{job.source.name} page {result.page}")
            self.console.print(f"[red]{where} failed:[/] {escape(reason)}")
        if self._progress is not None and tally.task is not None:
            self._progress.update(
                tally.task,
                advance=1,
                rate=f"{tally.rate:.2f} pages/s",
                failed=self.tally(job),
            )
        self._refresh()

    def tally(self, job: DocumentJob) -> str:
        """A bar's counts beside done/total: empty and failed pages, when there are any."""
        counts = self._documents.get(job)
        if counts is None:
            return ""
        parts = [f"{counts.empty} empty"] if counts.empty else []
        if counts.failed:
            parts.append(f"[red]{counts.failed} failed[/]")
        return ", ".join(parts)

    def document_finished(self, result: DocumentResult) -> None:
        from rich.markup import escape

        tally = self._documents.pop(result.job, None)
        self._ranks.pop(result.job, None)
        if tally is None:
            return
        if self._progress is not None and tally.task is not None:
            self._progress.remove_task(tally.task)
        counts = ", ".join(
            part
            for part in (
                f"{tally.empty} empty" if tally.empty else "",
                f"[red]{tally.failed} failed[/]" if tally.failed else "",
            )
            if part
        )
        self.console.print(
            f"[bold]{escape(result.job.source.name)}[/] {tally.done}/{tally.total} pages in "
            f"{result.seconds:.1f} s" + (f" ({counts})" if counts else "")
        )
        self._refresh()

    def concurrency(self, limits: Mapping[str, Mapping[str, int]]) -> None:
        self._limits = describe_limits(limits)
        self._refresh()

    def notice(self, message: str) -> None:
        style = "yellow" if message.startswith("warning:") else None
        self.console.print(message, style=style, markup=False, highlight=False)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._progress = None


def make_progress(*, verbose: bool, tty: bool) -> PlainProgress | RichProgress:
    return RichProgress(verbose=verbose) if tty else PlainProgress(verbose=verbose)
