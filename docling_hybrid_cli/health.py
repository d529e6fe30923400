"""``check-server`` logic: is each configured backend ready to convert a page?

The answer is a :class:`HealthReport` per backend, plain data the CLI prints
as text, a table or JSON. A report is *ready* only when a page sent now would
be accepted: the server answers, its engine is alive, it serves the
configured model with room in its context for an answer, and the API key
(when one is configured) is present and accepted. Every not-ready report
carries a one-line ``reason`` and a ``hint`` saying what to do, because the
person reading it usually has to start a server, fix a name or export a key.

vLLM's readiness rules (backends.md §2, §6.7) shape the checks: while the
model loads the port refuses connections (so :func:`wait_until_up` keeps
polling), ``/health`` answers 503 only when the engine is dead (so waiting
stops there), and ``/v1/models`` names the served model and its
``max_model_len``. No report ever holds an API key: only the name of the
variable and whether it is set.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from .client import ChatClient
from .errors import (
    BackendConnectError,
    BackendError,
    BackendServerError,
    BackendTimeout,
    ConfigError,
)
from .pages import PageImage
from .settings import BackendConfig, ConvertSettings, Settings

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

CHECK_TIMEOUT_S = 10.0
"""Per-request bound for the check's GETs: a healthy server answers them in milliseconds."""
POLL_TIMEOUT_S = 2.0
"""Per-poll bound while waiting, short so a loading server is re-polled about once a second."""
MIN_ANSWER_TOKENS = 256
"""Below this many tokens left for the answer, a dense page cannot be transcribed."""
LETTER_PT = (612.0, 792.0)

State = Literal["ready", "unreachable", "unhealthy", "misconfigured", "probe-failed"]

Tick = Callable[[str, float], None]
"""Wait progress callback: ``tick(backend_name, elapsed_s)`` after every failed poll."""


@dataclass
class KeyInfo:
    """What is known about a backend's API key; never the key itself."""

    env_var: str
    present: bool
    accepted: bool | None = None
    label: str | None = None
    limit: float | None = None
    usage: float | None = None
    limit_remaining: float | None = None
    free_model_daily_requests: dict[str, int] | None = None


@dataclass
class ProbeResult:
    """One real page sent through the backend, timed."""

    ok: bool
    seconds: float
    chars: int = 0
    completion_tokens: int | None = None
    error: str | None = None


@dataclass
class HealthReport:
    """The verdict on one backend, with the facts behind it."""

    backend: str
    kind: str
    ready: bool
    state: State
    url: str = ""
    model: str = ""
    reason: str | None = None
    hint: str | None = None
    health_status: int | None = None
    latency_ms: float | None = None
    served_models: list[str] = field(default_factory=list)
    max_model_len: int | None = None
    image_tokens: int | None = None
    max_tokens: int | None = None
    fitted_max_tokens: int | None = None
    waited_s: float | None = None
    key: KeyInfo | None = None
    probe: ProbeResult | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fail(self, state: State, reason: str, hint: str | None) -> HealthReport:
        self.ready = False
        self.state = state
        self.reason = reason
        self.hint = hint
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def typical_page_size(convert: ConvertSettings) -> tuple[int, int]:
    """Pixel size of a US Letter page as ``convert`` renders it: the basis of the token check."""
    scale = convert.dpi / 72.0
    width, height = LETTER_PT[0] * scale, LETTER_PT[1] * scale
    longest = max(width, height)
    if longest > convert.max_side:
        width, height = width * convert.max_side / longest, height * convert.max_side / longest
    return round(width), round(height)


def server_root(base_url: str) -> str:
    """vLLM serves ``/health`` beside ``/v1``, not under it."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


async def wait_until_up(
    config: BackendConfig,
    *,
    timeout_s: float,
    interval_s: float = 1.0,
    tick: Tick | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> float:
    """Poll ``/health`` until the server answers at all or ``timeout_s`` passes; return seconds.

    Any HTTP answer ends the wait, a 503 included: vLLM says 503 only when its
    engine is dead, which waiting cannot cure, and the check that follows
    reports it. Only refused connections and timeouts (a model still loading)
    keep it polling. Remote services (OpenRouter) and local backends are not
    waited for.
    """
    started = time.monotonic()
    if not config.needs_server or config.kind == "openrouter":
        return 0.0
    client = ChatClient.create(
        backend=config.name,
        base_url=config.base_url,
        timeout_s=POLL_TIMEOUT_S,
        connect_timeout_s=POLL_TIMEOUT_S,
        max_connections=1,
        transport=transport,
    )
    url = f"{server_root(config.base_url)}/health"
    try:
        while True:
            try:
                await client.get(url, timeout_s=POLL_TIMEOUT_S)
                break
            except BackendError as exc:
                if exc.status is not None:
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
    config: BackendConfig,
    *,
    page_size: tuple[int, int] = (1224, 1584),
    probe_page: PageImage | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HealthReport:
    """Check one backend; never raises for a server's failure, only reports it.

    ``page_size`` is the rendered page the context check assumes (the probe
    page's size when probing). ``probe_page``, when given, is sent through the
    backend once the cheap checks pass, and timed.
    """
    environ = os.environ if environ is None else environ
    report = HealthReport(
        backend=config.name,
        kind=config.kind,
        ready=True,
        state="ready",
        model=config.model,
        url=config.base_url if config.kind == "openrouter" else server_root(config.base_url),
    )
    if not config.needs_server:
        return _check_local(config, report)
    if config.api_key_env:
        present = bool(environ.get(config.api_key_env))
        report.key = KeyInfo(env_var=config.api_key_env, present=present)
        if not present:
            where = " (create one at https://openrouter.ai/keys)" if _is_openrouter(config) else ""
            return report.fail(
                "misconfigured",
                f"{config.api_key_env} is not set",
                f"set {config.api_key_env}: export {config.api_key_env}=<your key>{where}",
            )

    from .backends import HttpBackend, build_backend
    from .retry import RetryPolicy

    try:
        backend = build_backend(
            config,
            retry=RetryPolicy(max_attempts=1, rate_limit_attempts=1),
            transport=transport,
            environ=dict(environ),
        )
    except ConfigError as exc:
        return report.fail("misconfigured", str(exc), "fix the backend's kind in the config")
    own_client = not isinstance(backend, HttpBackend)
    if isinstance(backend, HttpBackend):
        client = backend.client
    else:
        client = _plain_client(config, environ, transport)
    try:
        if _is_openrouter(config):
            await _check_openrouter(config, client, report, environ)
        else:
            await _check_openai_server(config, client, report, page_size, backend)
        if report.ready and probe_page is not None:
            await _probe(backend, probe_page, report)
    finally:
        if own_client:
            await client.aclose()
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
            waited = await wait_until_up(config, timeout_s=wait_s, tick=tick, transport=transport)
        report = await check_backend(
            config,
            page_size=page_size,
            probe_page=probe_page,
            environ=environ,
            transport=transport,
        )
        if waited:
            report.waited_s = round(waited, 2)
            if report.state == "unreachable" and report.reason:
                report.reason += f" (waited {waited:.0f} s)"
        return report

    return list(await asyncio.gather(*(one(name) for name in names)))


def _is_openrouter(config: BackendConfig) -> bool:
    return config.kind == "openrouter"


def _plain_client(
    config: BackendConfig, environ: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> ChatClient:
    """A client for a server-backed kind whose backend class exposes none."""
    return ChatClient.create(
        backend=config.name,
        base_url=config.base_url,
        timeout_s=CHECK_TIMEOUT_S,
        connect_timeout_s=config.connect_timeout_s,
        max_connections=1,
        api_key=environ.get(config.api_key_env) if config.api_key_env else None,
        headers=dict(config.headers),
        transport=transport,
    )


def _check_local(config: BackendConfig, report: HealthReport) -> HealthReport:
    """Backends without a server: ready unless the program they run is missing."""
    if config.kind == "tesseract":
        path = shutil.which("tesseract")
        if path is None:
            return report.fail(
                "misconfigured",
                "tesseract is not installed (not on PATH)",
                "install it: apt-get install tesseract-ocr (macOS: brew install tesseract)",
            )
        report.notes.append(f"tesseract at {path}")
        return report
    report.notes.append("no server needed")
    return report


def _timed_out(exc: BackendError) -> bool:
    return isinstance(exc, BackendTimeout) or "timed out" in str(exc)


def _unreachable(config: BackendConfig, report: HealthReport, exc: BackendError) -> HealthReport:
    if _timed_out(exc):
        return report.fail(
            "unreachable",
            f"no answer from {report.url} within {CHECK_TIMEOUT_S:.0f} s",
            "the server may still be loading or be overloaded: add --wait 600 to wait for it",
        )
    if isinstance(exc, BackendConnectError):
        start = (
            "start it with scripts/start_vllm_deepseek.sh"
            if config.kind == "deepseek-vllm"
            else "start the server"
        )
        return report.fail(
            "unreachable",
            f"nothing answers at {report.url} (connection refused)",
            f"{start}, or fix backends.{config.name}.base_url; "
            "if it is still loading, add --wait 600",
        )
    return report.fail("unreachable", _strip_name(config, exc), "check the server's log")


def _strip_name(config: BackendConfig, exc: BackendError) -> str:
    """Client errors start with ``<backend>: ``; the report already says which backend."""
    return str(exc).removeprefix(f"{config.name}: ")


async def _check_openai_server(
    config: BackendConfig,
    client: ChatClient,
    report: HealthReport,
    page_size: tuple[int, int],
    backend: object,
) -> None:
    """vLLM and other OpenAI-compatible servers: ``/health``, then ``/models``, then context."""
    started = time.perf_counter()
    try:
        response = await client.get(f"{report.url}/health", timeout_s=CHECK_TIMEOUT_S)
        report.health_status = response.status_code
    except BackendError as exc:
        report.health_status = exc.status
        if exc.status is None:
            _unreachable(config, report, exc)
            return
        if exc.status == 503:
            report.fail(
                "unhealthy",
                "/health answered 503: the inference engine is dead",
                "restart the server and read its log (often out of GPU memory)",
            )
            return
        if isinstance(exc, BackendServerError):
            report.fail(
                "unhealthy",
                f"/health answered HTTP {exc.status}",
                "restart the server and read its log",
            )
            return
        report.notes.append(f"no /health endpoint (HTTP {exc.status}); checked /models only")
    report.latency_ms = round((time.perf_counter() - started) * 1000, 1)

    listing = await _get_models(config, client, report)
    if listing is None:
        return
    cards = [c for c in listing.get("data", []) if isinstance(c, dict)]
    report.served_models = [str(c.get("id")) for c in cards if c.get("id")]
    card = next((c for c in cards if c.get("id") == config.model), None)
    if card is None:
        served = ", ".join(report.served_models) or "no models"
        hint = f"set backends.{config.name}.model to the served name"
        if report.served_models:
            hint = (
                f"docling-hybrid-ocr config set backends.{config.name}.model "
                f"{report.served_models[0]}"
            )
        report.fail(
            "misconfigured", f"model {config.model!r} is not served (serves: {served})", hint
        )
        return
    length = card.get("max_model_len")
    if isinstance(length, int) and not isinstance(length, bool) and length > 0:
        report.max_model_len = length
    if config.kind == "deepseek-vllm":
        _check_context(config, report, page_size, backend)


async def _get_models(
    config: BackendConfig, client: ChatClient, report: HealthReport
) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        response = await client.get(f"{config.base_url}/models", timeout_s=CHECK_TIMEOUT_S)
    except BackendError as exc:
        if exc.status in (401, 403):
            hint = (
                f"check the key in {config.api_key_env}"
                if config.api_key_env
                else f"the server wants an API key: set backends.{config.name}.api_key_env "
                "to the name of the variable holding it"
            )
            if report.key is not None:
                report.key.accepted = False
            report.fail("misconfigured", f"API key rejected (HTTP {exc.status})", hint)
        elif exc.status == 404:
            report.fail(
                "misconfigured",
                f"{config.base_url}/models not found (HTTP 404)",
                f"backends.{config.name}.base_url must be the API root, usually ending in /v1",
            )
        elif exc.status is None:
            _unreachable(config, report, exc)
        else:
            report.fail("unhealthy", _strip_name(config, exc), "read the server's log")
        return None
    if report.latency_ms is None:
        report.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if report.key is not None:
        report.key.accepted = True
    try:
        listing = response.json()
    except ValueError:
        listing = None
    if not isinstance(listing, dict):
        report.fail(
            "misconfigured",
            f"{config.base_url}/models is not an OpenAI-compatible model list",
            f"check backends.{config.name}.base_url",
        )
        return None
    return listing


def _check_context(
    config: BackendConfig, report: HealthReport, page_size: tuple[int, int], backend: object
) -> None:
    """DeepSeek on vLLM: the page's image tokens plus the answer must fit ``max_model_len``.

    The backend fits ``max_tokens`` per page itself; the check says when that
    fitting will shrink the answer, and fails when too little room is left.
    """
    from .backends.deepseek import DEFAULT_MODEL_LEN, DeepSeekBackend, image_tokens

    if not isinstance(backend, DeepSeekBackend):
        return
    model_len = report.max_model_len
    if model_len is None:
        model_len = DEFAULT_MODEL_LEN
        report.notes.append(f"server does not report max_model_len; assuming {model_len}")
    width, height = page_size
    page = PageImage(page=1, data=b"", mime="image/jpeg", width=width, height=height)
    report.image_tokens = image_tokens(width, height)
    report.max_tokens = config.max_tokens
    report.fitted_max_tokens = backend.fitted_max_tokens(page, model_len)
    room = backend.answer_room(page, model_len)
    if room < min(MIN_ANSWER_TOKENS, config.max_tokens):
        report.fail(
            "misconfigured",
            f"max_model_len {model_len} leaves {room} tokens for the answer "
            f"after {report.image_tokens} image tokens",
            "restart vLLM with a larger --max-model-len (8192 suits DeepSeek-OCR)",
        )
    elif report.fitted_max_tokens < config.max_tokens:
        report.warnings.append(
            f"max_tokens {config.max_tokens} + {report.image_tokens} image tokens exceed "
            f"max_model_len {model_len}: each page may use at most "
            f"{report.fitted_max_tokens} answer tokens"
        )


async def _check_openrouter(
    config: BackendConfig,
    client: ChatClient,
    report: HealthReport,
    environ: Mapping[str, str],
) -> None:
    """OpenRouter: the key is accepted, and its credit or free-tier quota is not used up."""
    key = report.key
    started = time.perf_counter()
    try:
        response = await client.get(f"{config.base_url}/key", timeout_s=CHECK_TIMEOUT_S)
    except BackendError as exc:
        if exc.status in (401, 403) and key is not None:
            key.accepted = False
            report.fail(
                "misconfigured",
                f"OpenRouter rejected the key in {key.env_var} (HTTP {exc.status})",
                f"check {key.env_var}; keys are at https://openrouter.ai/keys",
            )
        elif exc.status is None:
            report.fail(
                "unreachable",
                f"cannot reach {config.base_url}: {_strip_name(config, exc)}",
                f"check the network, proxy settings and backends.{config.name}.base_url",
            )
        else:
            report.fail("unhealthy", _strip_name(config, exc), "try again later")
        return
    report.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if key is None:
        report.notes.append("no api_key_env configured; key status not checked")
        return
    key.accepted = True
    try:
        body = response.json()
    except ValueError:
        body = None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        report.warnings.append("the key endpoint answered without key details")
        return
    secret = environ.get(key.env_var, "")
    label = data.get("label")
    if isinstance(label, str):
        key.label = "(redacted)" if secret and secret in label else label
    key.limit = _number(data.get("limit"))
    key.usage = _number(data.get("usage"))
    key.limit_remaining = _number(data.get("limit_remaining"))
    daily = data.get("free_model_daily_requests")
    if isinstance(daily, dict):
        key.free_model_daily_requests = {
            k: int(v) for k, v in daily.items() if isinstance(v, int | float)
        }
    quota = key.free_model_daily_requests or {}
    if config.model.endswith(":free") and quota.get("remaining") == 0:
        report.fail(
            "misconfigured",
            f"free-model daily quota used up ({quota.get('used')}/{quota.get('limit')} today)",
            "wait for the reset at 00:00 UTC, or buy credits (10+ raises the cap to 1000/day)",
        )
    elif (
        not config.model.endswith(":free")
        and key.limit_remaining is not None
        and key.limit_remaining <= 0
    ):
        report.fail(
            "misconfigured",
            "the key's credit limit is used up",
            "raise the key's limit or add credits at https://openrouter.ai/settings/credits",
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


async def _probe(backend: Any, page: PageImage, report: HealthReport) -> None:
    """Send one real page and time it: the only check that exercises the model itself."""
    started = time.perf_counter()
    try:
        text = await backend.ocr_page(page)
    except BackendError as exc:
        seconds = round(time.perf_counter() - started, 3)
        report.probe = ProbeResult(
            ok=False, seconds=seconds, error=_strip_name(backend.config, exc)
        )
        report.fail(
            "probe-failed",
            f"the probe page failed: {report.probe.error}",
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

    The sample is a Letter page of printed text written by Pillow, so probing
    needs no file from the user and exercises the same render path.
    """
    from .render import PdfRenderer, RenderOptions

    options = RenderOptions(
        dpi=convert.dpi,
        max_side=convert.max_side,
        image_format=convert.image_format,
        jpeg_quality=convert.jpeg_quality,
    )
    if pdf is not None:
        async with PdfRenderer(pdf, options) as renderer:
            return await renderer.render(1)
    with tempfile.TemporaryDirectory(prefix="docling-hybrid-probe-") as tmp:
        sample = Path(tmp) / "probe.pdf"
        await asyncio.to_thread(_write_sample_pdf, sample)
        async with PdfRenderer(sample, options) as renderer:
            return await renderer.render(1)


def _write_sample_pdf(path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    dpi = 144
    size = (round(LETTER_PT[0] / 72 * dpi), round(LETTER_PT[1] / 72 * dpi))
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    title = ImageFont.load_default(size=44)
    body = ImageFont.load_default(size=26)
    draw.text((120, 140), "docling-hybrid-ocr probe page", fill="black", font=title)
    lines = [
        "This page checks that the OCR backend answers with text.",
        "It has a heading, two paragraphs and a short list.",
        "",
        "The quick brown fox jumps over the lazy dog. 0123456789",
        "",
        "- first item",
        "- second item",
    ]
    for n, line in enumerate(lines):
        draw.text((120, 260 + n * 44), line, fill="black", font=body)
    image.save(path, "PDF", resolution=float(dpi))
