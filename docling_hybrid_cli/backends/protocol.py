"""What every backend is: the Backend protocol, its family traits, and local backends.

A backend turns one :class:`PageImage` into one :class:`PageText` or raises a
:class:`BackendError`. It also knows its own family: whether it needs a
server, a key or the PDF's text layer, what to call it, and how to check that
it is ready (``check_health``), so nothing outside ``backends/`` branches on
a config's ``kind``. Backends that talk to a server build on
:class:`~docling_hybrid_cli.backends.base.HttpBackend`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from ..backend_configs import BackendConfigBase
from ..breaker import CircuitBreaker
from ..health_report import HealthReport
from ..pages import Notify, PageImage, PageText
from ..retry import RetryPolicy
from ..spending import SpendingCap

__all__ = ["Backend", "BackendTraits", "LocalBackend"]


@runtime_checkable
class Backend(Protocol):
    """Anything that can convert a page and say whether it is ready to."""

    name: str

    @property
    def config(self) -> BackendConfigBase: ...

    @property
    def title(self) -> str:
        """What people call this kind of backend ("DeepSeek vLLM server")."""
        ...

    @property
    def needs_server(self) -> bool: ...

    @property
    def needs_key(self) -> bool: ...

    @property
    def needs_text_layer(self) -> bool:
        """True when pages must carry the PDF's own text (the renderer extracts it)."""
        ...

    def request_capacity(self) -> tuple[int, int]:
        """(Requests in flight allowed now, the most ever): they differ when adaptive."""
        ...

    def concurrency_limits(self) -> dict[str, int]:
        """Each adaptive replica's limit now, by URL (progress display)."""
        ...

    def concurrency_report(self) -> list[dict[str, Any]]:
        """Each adaptive replica's limit and trace (``--report``, ``--json``, benchmark)."""
        ...

    @property
    def health_url(self) -> str:
        """Where check-server says it looked; empty for a backend without a server."""
        ...

    @property
    def startup_urls(self) -> tuple[str, ...]:
        """URLs that answer once the servers are up (``--wait`` polls each); empty: don't wait."""
        ...

    @property
    def ready_phrase(self) -> str:
        """The verb of a ready verdict: "is healthy", "accepts the key"."""
        ...

    async def check_health(self, report: HealthReport, page_size: tuple[int, int]) -> None:
        """Fill ``report`` with this backend's readiness; fail it with a reason and a hint.

        ``page_size`` is the rendered page (pixels) any context check assumes.
        Never raises for a server's failure: the report says what happened.
        """
        ...

    async def ocr_page(
        self,
        page: PageImage,
        notify: Notify | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> PageText: ...

    async def aclose(self) -> None: ...


class BackendTraits:
    """The capabilities a backend reads off its family's config model."""

    config: BackendConfigBase
    name: str

    @property
    def title(self) -> str:
        return self.config.family_title

    @property
    def needs_server(self) -> bool:
        return self.config.needs_server

    @property
    def needs_key(self) -> bool:
        return self.config.needs_key

    @property
    def needs_text_layer(self) -> bool:
        return self.config.needs_text_layer

    def request_capacity(self) -> tuple[int, int]:
        """(Requests this backend may have in flight now, the most it ever may).

        Fixed for most; the sums of the live replicas' limits for an adaptive one.
        """
        bound = self.config.concurrency_bound
        return bound, bound

    def concurrency_limits(self) -> dict[str, int]:
        """Each adaptive replica's limit now, by URL; empty for a fixed backend."""
        return {}

    def concurrency_report(self) -> list[dict[str, Any]]:
        """Each adaptive replica's limit and its bounded trace, for reports; empty when fixed."""
        return []


class LocalBackend(BackendTraits):
    """A backend that runs on this machine: no server, no key, nothing to wait for."""

    health_url: ClassVar[str] = ""
    startup_urls: ClassVar[tuple[str, ...]] = ()
    ready_phrase: ClassVar[str] = "is ready (no server needed)"

    def __init__(
        self,
        config: BackendConfigBase,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: dict[str, str] | None = None,
        spending: SpendingCap | None = None,
    ) -> None:
        self.config = config
        self.name = config.name

    async def check_health(self, report: HealthReport, page_size: tuple[int, int]) -> None:
        report.notes.append("no server needed")

    async def aclose(self) -> None:
        return None
