"""CPU OCR with the ``tesseract`` command, for scanned pages when no server answers.

The text layer cannot help a scan, and a fresh machine has no OCR server, so
a locally installed Tesseract (Debian: ``tesseract-ocr``) is the chain's last
resort. The page image goes to ``tesseract stdin stdout`` on a pipe (no temp
files), one process per page, at most ``max_concurrency`` at once, each
limited to one OpenMP thread so parallel pages do not oversubscribe the CPU.
Its plain-text output is shaped into Markdown paragraphs like the text layer.

Every failure here is final for the page on this backend (``BackendRejected``;
a missing binary is ``BackendNotConfigured``, no characters ``NoTextFound``):
Tesseract is deterministic, so running it again on the same image cannot
give a different answer, and a missing binary will not appear mid-run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from typing import Any

from ..backend_configs import TesseractConfig
from ..breaker import CircuitBreaker
from ..errors import BackendNotConfigured, BackendRejected, NoTextFound
from ..health_report import HealthReport
from ..pages import PageImage, PageText
from .base import LocalBackend, Notify
from .text_layer import text_to_markdown

__all__ = ["NOT_INSTALLED", "TesseractBackend"]

NOT_INSTALLED = "tesseract is not installed (apt-get install tesseract-ocr)"


class TesseractBackend(LocalBackend):
    """Runs ``tesseract stdin stdout -l LANG [--psm N]`` per page."""

    config: TesseractConfig

    def __init__(self, config: TesseractConfig, **options: Any) -> None:
        super().__init__(config, **options)
        self._slots = asyncio.Semaphore(config.concurrency_bound)

    async def check_health(self, report: HealthReport, page_size: tuple[int, int]) -> None:
        """Ready unless the ``tesseract`` command is missing."""
        path = shutil.which("tesseract")
        if path is None:
            report.fail(
                "misconfigured",
                "tesseract is not installed (not on PATH)",
                "install it: apt-get install tesseract-ocr (macOS: brew install tesseract)",
            )
            return
        report.notes.append(f"tesseract at {path}")

    def command(self, binary: str) -> list[str]:
        args = [binary, "stdin", "stdout", "-l", self.config.lang]
        if self.config.psm is not None:
            args += ["--psm", str(self.config.psm)]
        return args

    async def ocr_page(
        self,
        page: PageImage,
        notify: Notify | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> PageText:
        binary = shutil.which("tesseract")
        if binary is None:
            raise BackendNotConfigured(
                f"{self.name}: {NOT_INSTALLED}",
                backend=self.name,
                hint="install it, or point the chain at an OCR server (--base-url)",
            )
        async with self._slots:
            if notify is not None:
                notify("sent", self.name)
            stdout, stderr, code = await self._run(self.command(binary), page.data)
        if code != 0:
            detail = " ".join(stderr.decode("utf-8", "replace").split())[-300:]
            raise BackendRejected(
                f"{self.name}: tesseract exited with status {code}: {detail or 'no message'}",
                backend=self.name,
            )
        markdown = text_to_markdown(stdout.decode("utf-8", "replace"))
        if not markdown:
            raise NoTextFound(
                f"{self.name}: tesseract found no text on page {page.page}", backend=self.name
            )
        # OCR'd text has no math markup: every $ in it is a dollar.
        return PageText(
            markdown=markdown,
            backend=self.name,
            model=f"tesseract {self.config.lang}",
            dollars_are_math=False,
        )

    async def _run(self, args: list[str], data: bytes) -> tuple[bytes, bytes, int]:
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(data), timeout=self.config.timeout_s
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise BackendRejected(
                f"{self.name}: tesseract took longer than {self.config.timeout_s:g} s",
                backend=self.name,
            ) from None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        return stdout, stderr, process.returncode if process.returncode is not None else -1
