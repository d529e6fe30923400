"""What a health check finds out about one backend: plain data, no I/O.

Backends fill a :class:`HealthReport` with the facts of their own family
(a vLLM server's served models and context, OpenRouter's key and quota, a
local program's presence); :mod:`docling_hybrid_cli.health` coordinates the
checks, and the CLI prints the reports as text, a table or JSON. A report
never holds an API key: only the name of the variable and whether it is set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .keyguard import public_url

__all__ = [
    "CHECK_TIMEOUT_S",
    "MIN_ANSWER_TOKENS",
    "HealthReport",
    "KeyInfo",
    "ProbeResult",
    "State",
]

CHECK_TIMEOUT_S = 10.0
"""Per-request bound for the check's GETs: a healthy server answers them in milliseconds."""
MIN_ANSWER_TOKENS = 256
"""Below this many tokens left for the answer, a dense page cannot be transcribed."""

State = Literal["ready", "unreachable", "unhealthy", "misconfigured", "probe-failed"]


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
    """The verdict on one backend, with the facts behind it.

    ``title`` and ``ready_phrase`` come from the backend family and only
    shape the human-readable verdict ("OpenRouter accepts the key at …");
    they are not part of the JSON form.
    """

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
    ngram_guard: bool | None = None
    """DeepSeek on vLLM: whether the server applies the n-gram repetition guard (None: unknown)."""
    waited_s: float | None = None
    key: KeyInfo | None = None
    probe: ProbeResult | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    title: str = field(default="", repr=False)
    ready_phrase: str = field(default="is ready", repr=False)
    refused_config: bool = field(default=False, repr=False)
    """The backend could not even be built from its config (e.g. a key over plain HTTP)."""

    def fail(self, state: State, reason: str, hint: str | None) -> HealthReport:
        self.ready = False
        self.state = state
        self.reason = reason
        self.hint = hint
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["title"], data["ready_phrase"], data["refused_config"]
        data["url"] = public_url(self.url) if self.url else ""
        return data
