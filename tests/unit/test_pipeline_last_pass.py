"""The pipeline's end-of-document pass and its request slots, with a scripted fake chain.

Pages that failed only for transient reasons are converted once more after every
other page; the ordered output waits for them. Deterministic failures are final.
A page asleep before a retry lends its request slot to another page.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pdfgen import make_pdf

from docling_hybrid_cli.pages import AttemptError, PageImage, PageResult, PageText
from docling_hybrid_cli.pipeline import DocumentJob, DocumentResult, convert_document
from docling_hybrid_cli.settings import ConvertSettings
from docling_hybrid_cli.slots import wait_without_slot

Notify = Callable[[str, str], None]
PAGES = 8

TRANSIENT = {
    "HTTP 500": AttemptError("vllm", "vllm: HTTP 500", "BackendServerError", 500, transient=True),
    "HTTP 429": AttemptError("vllm", "vllm: HTTP 429", "BackendRateLimited", 429, transient=True),
    "reset": AttemptError("vllm", "vllm: connection dropped", "BackendUnavailable", transient=True),
    "timeout": AttemptError("vllm", "vllm: no answer in time", "BackendTimeout", transient=True),
}
FINAL = {
    "HTTP 401": AttemptError("vllm", "vllm: HTTP 401", "BackendRejected", 401),
    "cut off": AttemptError("vllm", "vllm: answer cut off", "BadModelOutput"),
}


class ScriptedChain:
    """Fails the listed pages with ``error`` on their first ``failures`` calls, else converts.

    ``on_call(page, call_number)`` runs before each answer, for tests that look at the
    output file while a page is being converted.
    """

    def __init__(
        self,
        failing: dict[int, AttemptError],
        *,
        failures: int = 1,
        on_call: Callable[[int, int], None] | None = None,
    ) -> None:
        self.failing = failing
        self.failures = failures
        self.on_call = on_call
        self.calls: list[int] = []

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        self.calls.append(page.page)
        call = self.calls.count(page.page)
        if self.on_call is not None:
            self.on_call(page.page, call)
        await asyncio.sleep(0.001)
        if page.page in self.failing and call <= self.failures:
            return PageResult(page=page.page, errors=[self.failing[page.page]], attempts=3)
        text = PageText(markdown=f"page {page.page} text", backend="vllm", model="m")
        return PageResult(page=page.page, text=text, attempts=1)

    async def aclose(self) -> None:
        return None


class Finished:
    """A ConvertObserver that keeps the order pages finished in."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.details: list[tuple[int, str, str]] = []

    def document_started(self, job: DocumentJob, pages: object) -> None:
        return None

    def page_state(self, job: DocumentJob, page: int, state: str, detail: str = "") -> None:
        self.details.append((page, state, detail))

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        self.order.append(result.page)

    def document_finished(self, result: DocumentResult) -> None:
        return None


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "doc.pdf", PAGES)


def convert(
    pdf: Path, out: Path, chain: object, concurrency: int = 4
) -> tuple[DocumentResult, Finished]:
    observer = Finished()
    settings = ConvertSettings(concurrency=concurrency, page_separator="\n<!-- {page} -->\n")
    job = DocumentJob(source=pdf, output=out)
    result = asyncio.run(convert_document(job, chain, settings, observer))  # type: ignore[arg-type]
    return result, observer


@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_transient_failures_get_one_more_pass_at_the_end(
    pdf: Path, tmp_path: Path, fault: str
) -> None:
    chain = ScriptedChain({3: TRANSIENT[fault], 6: TRANSIENT[fault]})
    result, observer = convert(pdf, tmp_path / "doc.md", chain)

    assert all(p.ok for p in result.pages)
    assert chain.calls[-2:] == [3, 6]  # after every other page
    assert sorted(chain.calls) == sorted([*range(1, PAGES + 1), 3, 6])
    assert observer.order[-2:] == [3, 6]
    page3 = result.pages[2]
    assert page3.errors == [TRANSIENT[fault]]  # the first pass stays on the record
    assert page3.attempts == 3 + 1
    assert (3, "retrying") in {(p, s) for p, s, _ in observer.details}
    text = (tmp_path / "doc.md").read_text()
    assert [int(n) for n in re.findall(r"page (\d+) text", text)] == list(range(1, PAGES + 1))


@pytest.mark.parametrize("fault", list(FINAL))
def test_deterministic_failures_are_final_at_once(pdf: Path, tmp_path: Path, fault: str) -> None:
    """A rejection or an unusable answer would only repeat: no second pass, no quota spent."""
    chain = ScriptedChain({4: FINAL[fault]}, failures=99)
    result, _ = convert(pdf, tmp_path / "doc.md", chain)
    assert chain.calls.count(4) == 1
    assert not result.pages[3].ok
    assert result.pages[3].errors == [FINAL[fault]]
    assert "page 4 failed" in (tmp_path / "doc.md").read_text()


def test_a_mix_of_transient_and_final_errors_is_final(pdf: Path, tmp_path: Path) -> None:
    """One backend rejected the page: the end pass would meet the same rejection."""

    class TwoBackends(ScriptedChain):
        async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
            result = await super().convert(page, notify)
            if not result.ok:
                result.errors.append(FINAL["HTTP 401"])
            return result

    chain = TwoBackends({2: TRANSIENT["HTTP 500"]}, failures=99)
    result, _ = convert(pdf, tmp_path / "doc.md", chain)
    assert chain.calls.count(2) == 1 and not result.pages[1].ok


def test_still_failing_after_the_last_pass_fails_with_both_passes_errors(
    pdf: Path, tmp_path: Path
) -> None:
    chain = ScriptedChain({5: TRANSIENT["reset"]}, failures=99)
    result, _ = convert(pdf, tmp_path / "doc.md", chain)
    assert chain.calls.count(5) == 2  # one more pass, not more
    page5 = result.pages[4]
    assert not page5.ok and page5.errors == [TRANSIENT["reset"]] * 2
    assert page5.attempts == 6
    markdown = (tmp_path / "doc.md").read_text()
    assert "page 5 failed" in markdown and "page 8 text" in markdown


def test_the_partial_output_waits_for_the_page_in_the_last_pass(pdf: Path, tmp_path: Path) -> None:
    """When page 2 is tried again, the .partial file holds page 1 only, and the pages after
    page 2 are all converted but not yet written: the order is kept, nothing is lost."""
    seen: list[str] = []

    def look(page: int, call: int) -> None:
        if page == 2 and call == 2:
            [partial] = tmp_path.glob(".doc.md.*.partial")  # the name is random
            seen.append(partial.read_text())

    chain = ScriptedChain({2: TRANSIENT["HTTP 429"]}, on_call=look)
    convert(pdf, tmp_path / "doc.md", chain)
    assert seen == ["page 1 text"]
    assert "page 2 text\n<!-- 3 -->\npage 3 text" in (tmp_path / "doc.md").read_text()


class SleepyChain:
    """Page 1 sleeps before its 'retry' through the retry loop's own wait; others just answer.

    Counts the pages at work (not asleep) to prove the slot was lent and never exceeded.
    """

    def __init__(self) -> None:
        self.working = 0
        self.max_working = 0
        self.finished: list[int] = []
        self.others_done = asyncio.Event()

    async def backoff(self, _: float) -> None:
        """Sleeps until every other page is done: only possible if the slot was lent."""
        with contextlib.suppress(TimeoutError):  # the finishing order then says what went wrong
            await asyncio.wait_for(self.others_done.wait(), timeout=10)

    async def _work(self) -> None:
        self.working += 1
        self.max_working = max(self.max_working, self.working)
        await asyncio.sleep(0.005)
        self.working -= 1

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        await self._work()
        if page.page == 1:
            await wait_without_slot(self.backoff, 0.3)
            await self._work()
        self.finished.append(page.page)
        if len(self.finished) == PAGES - 1 and 1 not in self.finished:
            self.others_done.set()
        text = PageText(markdown=f"page {page.page} text", backend="vllm", model="m")
        return PageResult(page=page.page, text=text)

    async def aclose(self) -> None:
        return None


def test_a_page_asleep_before_a_retry_lends_its_slot(pdf: Path, tmp_path: Path) -> None:
    """With one slot, the other pages are converted while page 1 waits out its backoff."""
    chain = SleepyChain()
    result, _ = convert(pdf, tmp_path / "doc.md", chain, concurrency=1)
    assert all(p.ok for p in result.pages)
    assert chain.finished[-1] == 1 and len(chain.finished) == PAGES
    assert chain.max_working == 1  # the slot bound held throughout
