"""``check-server`` coordination: wait for servers, check backends, time a probe.

The answer is a :class:`HealthReport` per backend, plain data the CLI prints
as text, a table or JSON. A report is *ready* only when a page sent now would
be accepted. What "ready" means is each backend family's own knowledge
(``Backend.check_health``: a vLLM server's model and context, OpenRouter's
key and quota, a local program's presence); this module knows no family. It
waits for servers that are still starting, runs the checks concurrently,
and optionally sends one real page through the backend and times it.

Every not-ready report carries a one-line ``reason`` and a ``hint`` saying
what to do, because the person reading it usually has to start a server,
fix a name or export a key.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from .backend_configs import BackendConfigBase
from .backends import Backend, build_backend
from .client import ChatClient
from .errors import BackendError, ConfigError
from .health_report import CHECK_TIMEOUT_S, HealthReport, KeyInfo, ProbeResult, State
from .pages import PageImage
from .retry import RetryPolicy
from .samplepdf import LETTER_PT, write_probe_pdf
from .settings import ConvertSettings, Settings

__all__ = [
    "CHECK_TIMEOUT_S",
    "HealthReport",
    "KeyInfo",
    "ProbeResult",
    "State",
    "check_backend",
    "check_backends",
    "render_probe_page",
    "typical_page_size",
    "wait_until_up",
]

POLL_TIMEOUT_S = 2.0
"""Per-poll bound while waiting, short so a loading server is re-polled about once a second."""
_WARMING = 503
"""The status a server still warming up answers on its health URL (SGLang); --wait goes on."""

Tick = Callable[[str, float], None]
"""Wait progress callback: ``tick(backend_name, elapsed_s)`` after every failed poll."""


def typical_page_size(convert: ConvertSettings) -> tuple[int, int]:
    """Pixel size of a US Letter page as ``convert`` renders it: the basis of the token check."""
    scale = convert.dpi / 72.0
    width, height = LETTER_PT[0] * scale, LETTER_PT[1] * scale
    longest = max(width, height)
    if longest > convert.max_side:
        width, height = width * convert.max_side / longest, height * convert.max_side / longest
    return round(width), round(height)


def _build(
    config: BackendConfigBase,
    environ: Mapping[str, str],
    transport: httpx.AsyncBaseTransport | None,
) -> Backend:
    """The backend as convert builds it, but trying each request once: a check must be quick."""
    return build_backend(
        config,
        retry=RetryPolicy(max_attempts=1, rate_limit_attempts=1),
        transport=transport,
        environ=dict(environ),
    )


async def wait_until_up(
    config: BackendConfigBase,
    *,
    timeout_s: float,
    interval_s: float = 1.0,
    tick: Tick | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> float:
    """Poll the backend's startup URL until the server answers at all or ``timeout_s`` passes.

    Returns the seconds waited. Refused connections and timeouts (vLLM
    loading its weights), and 503 (SGLang answers 503 from ``/health`` while
    it warms up) keep it polling; any other HTTP answer ends the wait, and the
    check that follows reports it. A vLLM whose engine died also answers 503,
    so it is waited for until ``timeout_s`` -- the check then says so.
    Backends without a startup URL (remote services, local programs) are
    not waited for.
    """
    started = time.monotonic()
    backend = _build(config, os.environ if environ is None else environ, transport)
    url = backend.startup_url
    await backend.aclose()
    if url is None:
        return 0.0
    client = ChatClient.create(
        backend=config.name,
        base_url=url,
        timeout_s=POLL_TIMEOUT_S,
        connect_timeout_s=POLL_TIMEOUT_S,
        max_connections=1,
        transport=transport,
    )
    try:
        while True:
            try:
                await client.get(url, timeout_s=POLL_TIMEOUT_S)
                break
            except BackendError as exc:
                if exc.status is not None and exc.status != _WARMING:
                    break
            elapsed = time.monotonic() - started
            if tick is not None:
                tick(config.name, elapsed)
            remaining = timeout_s - elapsed
            if remaining <= 0:
                break
            await asyncio.sleep(min(interval_s, remaining))
    finally:
        await client.aclose()
    return time.monotonic() - started


async def check_backend(
    config: BackendConfigBase,
    *,
    page_size: tuple[int, int] = (1224, 1584),
    probe_page: PageImage | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HealthReport:
    """Check one backend; never raises for a server's failure, only reports it.

    ``page_size`` is the rendered page the context check assumes (the probe
    page's size when probing). ``probe_page``, when given, is sent through the
    backend once its own checks pass, and timed.
    """
    environ = os.environ if environ is None else environ
    report = HealthReport(backend=config.name, kind=config.kind, ready=True, state="ready")
    try:
        backend = _build(config, environ, transport)
    except ConfigError as exc:
        report.refused_config = True
        return report.fail(
            "misconfigured", str(exc), exc.hint or "fix the backend's kind in the config"
        )
    report.title = backend.title
    report.ready_phrase = backend.ready_phrase
    report.url = backend.health_url
    try:
        await backend.check_health(report, page_size)
        if report.ready and probe_page is not None:
            await _probe(backend, probe_page, report)
    finally:
        await backend.aclose()
    return report


async def check_backends(
    settings: Settings,
    names: list[str],
    *,
    wait_s: float = 0.0,
    tick: Tick | None = None,
    probe_page: PageImage | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[HealthReport]:
    """Wait for (if asked) and check the named backends concurrently, in the given order."""
    page_size = (
        (probe_page.width, probe_page.height)
        if probe_page is not None
        else typical_page_size(settings.convert)
    )

    async def one(name: str) -> HealthReport:
        config = settings.backend(name)
        waited = None
        if wait_s > 0:
            waited = await wait_until_up(
                config, timeout_s=wait_s, tick=tick, environ=environ, transport=transport
            )
        report = await check_backend(
            config,
            page_size=page_size,
            probe_page=probe_page,
            environ=environ,
            transport=transport,
        )
        if waited:
            report.waited_s = round(waited, 2)
            if report.state in ("unreachable", "unhealthy") and report.reason:
                report.reason += f" (waited {waited:.0f} s)"
        return report

    return list(await asyncio.gather(*(one(name) for name in names)))


async def _probe(backend: Backend, page: PageImage, report: HealthReport) -> None:
    """Send one real page and time it: the only check that exercises the model itself."""
    started = time.perf_counter()
    try:
        text = await backend.ocr_page(page)
    except BackendError as exc:
        seconds = round(time.perf_counter() - started, 3)
        error = str(exc).removeprefix(f"{backend.name}: ")
        report.probe = ProbeResult(ok=False, seconds=seconds, error=error)
        report.fail(
            "probe-failed",
            f"the probe page failed: {error}",
            exc.hint or "read the server's log; convert would fail the same way",
        )
        return
    report.probe = ProbeResult(
        ok=True,
        seconds=round(time.perf_counter() - started, 3),
        chars=len(text.markdown),
        completion_tokens=text.completion_tokens,
    )


async def render_probe_page(pdf: Path | None, convert: ConvertSettings) -> PageImage:
    """Page 1 of ``pdf``, or of a one-page sample made on the spot, rendered as convert would.

    The sample is a scanned Letter page of printed text, so probing needs no
    file from the user and exercises the same render path.
    """
    from .render import PdfRenderer, RenderOptions

    options = RenderOptions(
        dpi=convert.dpi,
        max_side=convert.max_side,
        image_format=convert.image_format,
        jpeg_quality=convert.jpeg_quality,
        jpeg_subsampling=convert.jpeg_subsampling,
    )
    if pdf is not None:
        async with PdfRenderer(pdf, options) as renderer:
            return await renderer.render(1)
    with tempfile.TemporaryDirectory(prefix="docling-hybrid-probe-") as tmp:
        sample = Path(tmp) / "probe.pdf"
        await asyncio.to_thread(write_probe_pdf, sample)
        async with PdfRenderer(sample, options) as renderer:
            return await renderer.render(1)
