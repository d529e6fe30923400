"""Progress for people (rich, on a TTY) and for logs (plain lines otherwise).

Both implement the pipeline's ``ConvertObserver``; the pipeline never knows
which one it talks to. Everything goes to stderr so stdout stays clean for
``--json``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
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


class PlainProgress:
    """One line per finished page and per retry: greppable, no control codes."""

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self._total = 0
        self._done = 0
        self._failed = 0
        self._started = time.perf_counter()
        self._limits = ""

    def _line(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self._total, self._done, self._failed = len(pages), 0, 0
        self._started = time.perf_counter()
        self._line(f"converting {job.source} ({len(pages)} pages) -> {job.output}")

    def page_state(self, page: int, state: PageState, detail: str = "") -> None:
        if state == "retrying" or self.verbose:
            self._line(f"page {page}: {state}" + (f": {detail}" if detail else ""))

    def page_finished(self, result: PageResult) -> None:
        self._done += 1
        rate = self._done / max(time.perf_counter() - self._started, 1e-9)
        if result.text is not None and result.text.empty_reason is not None:
            how = f"empty: {result.text.empty_reason}"
        elif result.text is not None:
            how = f"converted by {result.text.backend} in {result.latency_s:.1f} s"
        else:
            self._failed += 1
            how = "FAILED: " + "; ".join(f"{e.backend}: {e.error}" for e in result.errors)
        limits = f", in flight {self._limits}" if self._limits else ""
        self._line(
            f"page {result.page} ({self._done}/{self._total}, {rate:.2f} pages/s{limits}) {how}"
        )

    def document_finished(self, result: DocumentResult) -> None:
        return None

    def notice(self, message: str) -> None:
        self._line(message)

    def concurrency(self, limits: Mapping[str, Mapping[str, int]]) -> None:
        """Kept for the next page line: slow start changes it on every answer."""
        self._limits = describe_limits(limits)

    def close(self) -> None:
        return None


class RichProgress:
    """A live bar (done/total, pages/s, ETA, failures) above the pages in flight."""

    def __init__(self, *, verbose: bool = False) -> None:
        from rich.console import Console

        self.verbose = verbose
        self.console = Console(stderr=True)
        self._live: Any = None
        self._progress: Any = None
        self._task: Any = None
        self._states: dict[int, tuple[PageState, str]] = {}
        self._failed = 0
        self._empty = 0
        self._done = 0
        self._started = time.perf_counter()
        self._limits = ""

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.close()
        self._failed = self._empty = self._done = 0
        self._started = time.perf_counter()
        self._states = {}
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
        self._task = self._progress.add_task(
            job.source.name, total=len(pages), rate="0.00 pages/s", failed=""
        )
        self._live = Live(self._render(), console=self.console, refresh_per_second=8)
        self._live.start()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, min_width=10)
        table.add_column(no_wrap=True, min_width=12)
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        for page, (state, detail) in sorted(self._states.items())[:12]:
            style = _STATE_STYLE[state]
            table.add_row(f"page {page}", Text(state, style=style), Text(detail[:90]))
        hidden = len(self._states) - 12
        if hidden > 0:
            table.add_row("", f"… {hidden} more in flight", "")
        if self._limits:
            return Group(self._progress, Text(f"in flight at most: {self._limits}"), table)
        return Group(self._progress, table)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def page_state(self, page: int, state: PageState, detail: str = "") -> None:
        if state == "sent":
            detail = f"→ {detail}"
        self._states[page] = (state, detail)
        self._refresh()

    def page_finished(self, result: PageResult) -> None:
        from rich.markup import escape

        self._states.pop(result.page, None)
        self._done += 1
        if not result.ok:
            self._failed += 1
            last = result.errors[-1] if result.errors else None
            reason = f"{last.backend}: {last.error}" if last else "failed"
            self.console.print(f"[red]page {result.page} failed:[/] {escape(reason)}")
        elif result.text is not None and result.text.empty_reason is not None:
            self._empty += 1
        rate = self._done / max(time.perf_counter() - self._started, 1e-9)
        if self._progress is not None:
            self._progress.update(
                self._task,
                advance=1,
                rate=f"{rate:.2f} pages/s",
                failed=self._tally(),
            )
        self._refresh()

    def _tally(self) -> str:
        """The bar's counts beside done/total: empty and failed pages, when there are any."""
        parts = [f"{self._empty} empty"] if self._empty else []
        if self._failed:
            parts.append(f"[red]{self._failed} failed[/]")
        return ", ".join(parts)

    def document_finished(self, result: DocumentResult) -> None:
        self.close()

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


def make_progress(*, verbose: bool, tty: bool) -> PlainProgress | RichProgress:
    return RichProgress(verbose=verbose) if tty else PlainProgress(verbose=verbose)
