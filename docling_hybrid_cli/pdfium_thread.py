"""The one thread every pypdfium2 call in the process runs on.

PDFium is not thread-safe, not even across different documents: two concurrent
calls crash or corrupt the process. So *every* pypdfium2 call -- opening, page
access, rendering, text extraction, closing, even objects being finalised --
runs on one process-wide worker thread, the single-thread executor returned by
:func:`pdfium_executor` (thread name ``pdfium_0``). Code that needs pdfium goes
through :func:`run_pdfium` (blocking callers), :func:`arun_pdfium` (coroutines)
or that executor, and never calls pypdfium2 from any other thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["arun_pdfium", "pdfium_executor", "run_pdfium"]

_T = TypeVar("_T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def pdfium_executor() -> ThreadPoolExecutor:
    """Return the one executor through which every pypdfium2 call must go.

    It is created lazily and never shut down by this module: a thread that was
    stopped and replaced could still be finishing a job while its successor starts
    one, which is exactly the concurrent pdfium use that must never happen.
    ``concurrent.futures`` joins the idle thread at interpreter exit.
    """
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdfium")
        return _executor


def _on_pdfium_thread() -> bool:
    return threading.current_thread().name.startswith("pdfium_")


def run_pdfium(fn: Callable[..., _T], /, *args: object) -> _T:
    """Run ``fn(*args)`` on the pdfium thread and wait for it (for synchronous callers).

    Called from the pdfium thread itself it runs inline, since queuing behind
    itself would deadlock.
    """
    if _on_pdfium_thread():
        return fn(*args)
    return pdfium_executor().submit(fn, *args).result()


async def arun_pdfium(fn: Callable[..., _T], /, *args: object) -> _T:
    """Run ``fn(*args)`` on the pdfium thread without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(pdfium_executor(), fn, *args)
