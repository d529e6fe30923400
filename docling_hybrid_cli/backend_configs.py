"""One config model per backend family, as a union discriminated on ``kind``.

Each family accepts only the keys it uses (``extra="forbid"``), so ``psm`` on
a vLLM backend or ``referer`` on tesseract is an error that names the key
instead of a setting silently ignored. A model also states what callers need
to know about its family without branching on ``kind``: whether it needs a
server, what kind of answer its server gives, and which class implements it.

Adding a family is one backend module in ``backends/`` plus one model here,
added to :data:`BackendConfig` (docs/BACKENDS.md, "Adding a backend").
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from .concurrency_setting import MAX_CONCURRENCY, Concurrency, parse_concurrency

__all__ = [
    "BACKEND_KINDS",
    "AnswerStyle",
    "BackendConfig",
    "BackendConfigBase",
    "DeepSeekConfig",
    "DeepSeekMlxConfig",
    "GuardStep",
    "HttpBackendConfig",
    "OpenAICompatConfig",
    "OpenRouterConfig",
    "PenaltyStep",
    "TesseractConfig",
    "TextLayerConfig",
    "backend_config",
    "infer_kind",
]

AnswerStyle = Literal["deepseek", "plain"]
"""What a family's server answers with: DeepSeek's grounding tags, or plain Markdown."""


class BackendConfigBase(BaseModel):
    """What every backend has: a name, a kind, and bounds on its work."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    timeout_s: float = Field(default=180.0, gt=0)
    max_concurrency: Concurrency = Field(
        default=16,
        description='Requests in flight per replica: a number fixes it; "auto" lets each '
        "replica's controller find it (docs/SCALING.md), up to max_concurrency_ceiling.",
    )

    backend_class: ClassVar[str]
    """``module:Class`` of the implementation, imported only when the backend is built."""
    family_title: ClassVar[str]
    """How people call this kind of backend, for check-server's verdicts."""
    needs_server: ClassVar[bool] = True
    needs_text_layer: ClassVar[bool] = False
    answer_style: ClassVar[AnswerStyle] = "plain"
    cache_key_ignores: ClassVar[frozenset[str]] = frozenset({"timeout_s", "max_concurrency"})
    """Fields that cannot change the Markdown a page turns into.

    Every other field -- including any field added later, until it is listed
    here -- is part of the page cache's key (:meth:`output_identity`), so a
    change that could alter a page never reuses a stale checkpoint.
    """

    @property
    def needs_key(self) -> bool:
        return False

    @property
    def adaptive(self) -> bool:
        """Whether each replica's requests in flight are found at run time (``"auto"``)."""
        return self.max_concurrency == "auto"

    @property
    def concurrency_bound(self) -> int:
        """The most requests in flight: the fixed number (a server's ceiling when adaptive)."""
        return self.max_concurrency if isinstance(self.max_concurrency, int) else MAX_CONCURRENCY

    @field_validator("max_concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: Any) -> Any:
        return parse_concurrency(value, allow_auto=cls.needs_server)

    def output_identity(self) -> dict[str, Any]:
        """What of this backend decides a page's Markdown: its share of the cache key."""
        return self.model_dump(mode="json", exclude=set(self.cache_key_ignores))


class HttpBackendConfig(BackendConfigBase):
    """A backend behind an OpenAI-compatible chat-completions endpoint."""

    model: str = ""
    base_url: str | list[str] = Field(
        default="",
        description="The OpenAI API root; a list names several replicas of the same model "
        "(an endpoint pool).",
    )
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key."
    )
    max_concurrency_ceiling: int = Field(default=256, ge=1, le=MAX_CONCURRENCY)
    """With ``max_concurrency = "auto"``: the most requests in flight per replica."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=8192, ge=1, le=1_000_000)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_response_mb: float = Field(
        default=8.0,
        gt=0,
        le=1024,
        description="Answers larger than this (after decompression) are refused while read.",
    )
    prompt: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(
        default_factory=dict,
        description="Header name -> environment variable holding its value: secret headers "
        "need not live in a config file.",
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow sending the API key over plain HTTP to a non-loopback host.",
    )
    requests_per_minute: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Client-side request rate cap (a token bucket); None for no cap.",
    )
    probe_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="With several replicas: how often each one's /health is probed (an "
        "ejected replica is re-probed as often, and re-admitted once it answers).",
    )
    probe_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="With several replicas: how long one /health probe may take.",
    )
    cache_key_ignores: ClassVar[frozenset[str]] = BackendConfigBase.cache_key_ignores | {
        "base_url",  # the same model behind another address answers the same
        "api_key_env",
        "headers",  # authentication and routing; may hold secrets
        "headers_env",
        "connect_timeout_s",
        "max_response_mb",  # a cap: an answer under it is the same answer
        "allow_insecure_http",
        "requests_per_minute",
        "probe_interval_s",  # how a pool watches its replicas, not what they answer
        "probe_timeout_s",
        "max_concurrency_ceiling",  # how many in flight, not what they answer
    }

    @property
    def needs_key(self) -> bool:
        return bool(self.api_key_env)

    @property
    def concurrency_bound(self) -> int:
        """The most requests in flight per replica: the fixed number, or the ceiling."""
        if isinstance(self.max_concurrency, int):
            return self.max_concurrency
        return self.max_concurrency_ceiling

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every replica's API root, in the configured order (one for a plain backend)."""
        if isinstance(self.base_url, str):
            return (self.base_url,) if self.base_url else ()
        return tuple(self.base_url)

    @property
    def primary_url(self) -> str:
        """The first replica's API root: where family checks that need one server look."""
        urls = self.base_urls
        return urls[0] if urls else ""

    @field_validator("extra_body")
    @classmethod
    def _finite(cls, value: dict[str, Any]) -> dict[str, Any]:
        """TOML has nan and inf; JSON has neither, so a request could not carry them."""
        if not _all_finite(value):
            raise ValueError("numbers must be finite (no nan or inf)")
        return value

    @field_validator("base_url")
    @classmethod
    def _api_root(cls, value: str | list[str]) -> str | list[str]:
        """Accept both the API root and the seed's full ``.../chat/completions`` URL.

        A list is a pool of replicas: each entry is checked the same way, and
        a list of one is that one URL (the pool machinery is then idle).
        """
        if isinstance(value, str):
            return _one_api_root(value)
        if not value:
            raise ValueError("a list of replicas must name at least one URL")
        if len(value) > _MAX_REPLICAS:
            raise ValueError(f"at most {_MAX_REPLICAS} replicas per backend")
        roots = [_one_api_root(url) for url in value]
        if not all(roots):
            raise ValueError("a replica URL is empty")
        duplicates = sorted({url for url in roots if roots.count(url) > 1})
        if duplicates:
            raise ValueError(f"replica {duplicates[0]} is listed twice")
        return roots[0] if len(roots) == 1 else roots


_MAX_REPLICAS = 256
"""More replicas than this behind one client is a router's job, not a config list's."""


def _one_api_root(value: str) -> str:
    value = value.strip().rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if value.endswith(suffix):
            value = value[: -len(suffix)].rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return True


class GuardStep(BaseModel):
    """One loop-ladder step on vLLM: DeepSeek's n-gram guard, optionally a temperature.

    The guard bans a token that would complete an ``ngram_size``-gram already
    seen in the last ``window_size`` tokens, so it stops loops whose period is
    at most ``window_size - ngram_size + 1`` tokens.
    """

    model_config = ConfigDict(extra="forbid")

    ngram_size: int = Field(ge=2, le=1024)
    window_size: int = Field(ge=3, le=65536)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _window_holds_ngram(self) -> GuardStep:
        if self.window_size <= self.ngram_size:
            raise ValueError("window_size must be larger than ngram_size, or the guard never fires")
        return self


class PenaltyStep(BaseModel):
    """One loop-ladder step on mlx-vlm, which has no n-gram guard: a repetition penalty."""

    model_config = ConfigDict(extra="forbid")

    repetition_penalty: float = Field(ge=1.0, le=2.0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)


_MAX_LADDER_STEPS = 8


def _guard_ladder() -> list[GuardStep]:
    """DeepSeek's recipe guard (loops up to 61 tokens), a wide one (up to 473), then sampling."""
    return [
        GuardStep(ngram_size=30, window_size=90),
        GuardStep(ngram_size=40, window_size=512),
        GuardStep(ngram_size=40, window_size=512, temperature=0.2),
    ]


def _penalty_ladder() -> list[PenaltyStep]:
    return [
        PenaltyStep(repetition_penalty=1.1),
        PenaltyStep(repetition_penalty=1.2),
        PenaltyStep(repetition_penalty=1.2, temperature=0.2),
    ]


class DeepSeekConfig(HttpBackendConfig):
    """DeepSeek-OCR served by vLLM.

    ``timeout_s`` defaults to 600 s, fitted to the longest answer a page may
    get: ``max_model_len`` 8192 less the image's tokens leaves ~7,000 answer
    tokens. DeepSeek reports ~2,500 tokens/s for a whole A100-40G
    (https://github.com/deepseek-ai/DeepSeek-OCR); decoding is bound by memory
    bandwidth, so an L4 (300 GB/s against the A100's 1,555) makes ~480
    tokens/s, ~15 per request with 32 in flight, and ~7,000 tokens take ~470 s
    before any queueing. 180 s would cut such a page off at ~2,700 tokens.
    """

    kind: Literal["deepseek-vllm"] = "deepseek-vllm"
    timeout_s: float = Field(default=600.0, gt=0)
    max_concurrency: Concurrency = "auto"  # vLLM batches continuously: let it find the number
    backend_class: ClassVar[str] = "docling_hybrid_cli.backends.deepseek:DeepSeekBackend"
    family_title: ClassVar[str] = "DeepSeek vLLM server"
    answer_style: ClassVar[AnswerStyle] = "deepseek"
    vision_encoder: Literal["auto", "deepseek-ocr", "deepseek-ocr-2"] = Field(
        default="auto",
        description="Which model's image-token count fits max_tokens: auto reads it off the "
        "model name (DeepSeek-OCR-2 when it contains 'ocr-2' or 'ocr2').",
    )
    loop_ladder: list[GuardStep] = Field(
        default_factory=_guard_ladder,
        min_length=1,
        max_length=_MAX_LADDER_STEPS,
        description="Requests tried in turn while answers are cut off (probable loops).",
    )


class DeepSeekMlxConfig(HttpBackendConfig):
    """DeepSeek-OCR served by mlx-vlm on Apple silicon."""

    kind: Literal["deepseek-mlx"] = "deepseek-mlx"
    backend_class: ClassVar[str] = "docling_hybrid_cli.backends.deepseek:DeepSeekBackend"
    family_title: ClassVar[str] = "DeepSeek MLX server"
    answer_style: ClassVar[AnswerStyle] = "deepseek"
    loop_ladder: list[PenaltyStep] = Field(
        default_factory=_penalty_ladder,
        min_length=1,
        max_length=_MAX_LADDER_STEPS,
        description="Requests tried in turn while answers are cut off (probable loops).",
    )


class OpenAICompatConfig(HttpBackendConfig):
    """Any OpenAI-compatible vision server (SGLang, LM Studio, Ollama, OpenAI).

    OpenAI's reasoning models refuse ``max_tokens`` and any ``temperature``
    but the default, so this family can send ``max_completion_tokens``
    instead and leave the temperature out (TOML has no null, hence a switch).
    """

    kind: Literal["openai-compatible"] = "openai-compatible"
    backend_class: ClassVar[str] = "docling_hybrid_cli.backends.openai_compat:OpenAICompatBackend"
    family_title: ClassVar[str] = "OpenAI-compatible server"
    omit_temperature: bool = Field(
        default=False, description="Send no temperature (the model's own default)."
    )
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="The request field that carries max_tokens (OpenAI's reasoning models "
        "want max_completion_tokens).",
    )


class OpenRouterConfig(HttpBackendConfig):
    """A vision model through OpenRouter; always keyed, with optional attribution headers."""

    kind: Literal["openrouter"] = "openrouter"
    backend_class: ClassVar[str] = "docling_hybrid_cli.backends.openrouter:OpenRouterBackend"
    family_title: ClassVar[str] = "OpenRouter"
    cache_key_ignores: ClassVar[frozenset[str]] = HttpBackendConfig.cache_key_ignores | {
        "referer",
        "title",
    }
    referer: str | None = Field(
        default=None, description="OpenRouter attribution: sent as the HTTP-Referer header."
    )
    title: str | None = Field(
        default=None, description="OpenRouter attribution: sent as the X-Title header."
    )

    @model_validator(mode="after")
    def _key_env(self) -> OpenRouterConfig:
        """OpenRouter always needs a key: without a variable named, read the usual one."""
        if not self.api_key_env:
            self.api_key_env = "OPENROUTER_API_KEY"
        return self


class TextLayerConfig(BackendConfigBase):
    """The PDF's own text: no server, no model."""

    kind: Literal["text-layer"] = "text-layer"
    backend_class: ClassVar[str] = "docling_hybrid_cli.backends.text_layer:TextLayerBackend"
    family_title: ClassVar[str] = "PDF text layer"
    needs_server: ClassVar[bool] = False
    needs_text_layer: ClassVar[bool] = True


class TesseractConfig(BackendConfigBase):
    """CPU OCR with the local ``tesseract`` command."""

    kind: Literal["tesseract"] = "tesseract"
    backend_class: ClassVar[str] = "docling_hybrid_cli.backends.tesseract:TesseractBackend"
    family_title: ClassVar[str] = "Tesseract"
    needs_server: ClassVar[bool] = False
    lang: str = Field(
        default="eng",
        pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="tesseract language(s), e.g. 'eng' or 'eng+deu'.",
    )
    psm: int | None = Field(
        default=None, ge=0, le=13, description="tesseract page segmentation mode."
    )


BackendConfig = Annotated[
    DeepSeekConfig
    | DeepSeekMlxConfig
    | OpenRouterConfig
    | OpenAICompatConfig
    | TextLayerConfig
    | TesseractConfig,
    Field(discriminator="kind"),
]
"""Any backend's config; pydantic picks the family's model by ``kind``."""

_FAMILIES: tuple[type[BackendConfigBase], ...] = get_args(get_args(BackendConfig)[0])
BACKEND_KINDS: tuple[str, ...] = tuple(family.model_fields["kind"].default for family in _FAMILIES)


def infer_kind(data: Any) -> Any:
    """Seed configs have no ``kind``: a backend named after a kind is of that kind.

    A table without ``kind`` whose name is not a kind is an OpenRouter backend
    when its URL says so, else a generic OpenAI-compatible one.
    """
    if not isinstance(data, dict) or "kind" in data:
        return data
    name = str(data.get("name", ""))
    if name in BACKEND_KINDS:
        return {**data, "kind": name}
    if "openrouter.ai" in str(data.get("base_url", "")):
        return {**data, "kind": "openrouter"}
    return {**data, "kind": "openai-compatible"}


_ADAPTER: TypeAdapter[BackendConfig] = TypeAdapter(BackendConfig)


def backend_config(**data: Any) -> BackendConfig:
    """Validate one backend table (``kind`` inferred as in config files)."""
    return _ADAPTER.validate_python(infer_kind(data))
