"""What the simulated server is told (:class:`MockConfig`) and what it reports (the stats types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from docling_hybrid_cli.sim.faults import DEFAULT_FAULTS, check_fault_kinds

__all__ = ["MockConfig", "MockStats", "RequestRecord"]


@dataclass
class MockConfig:
    """How the simulated server answers; every field has the behaviour of a healthy vLLM."""

    model: str = "deepseek-ai/DeepSeek-OCR"
    max_model_len: int = 8192
    style: Literal["deepseek", "plain"] = "deepseek"
    latency_s: float = 0.0
    per_token_s: float = 0.0
    jitter: float = 0.0
    fail_rate: float = 0.0
    faults: tuple[str, ...] = DEFAULT_FAULTS
    seed: int = 0
    api_key: str | None = None
    start_delay_s: float = 0.0
    retry_after_s: float | None = None
    timeout_fault_s: float = 30.0
    hostile_mb: float = 48.0
    """Size of the ``oversized`` and ``gzip-bomb`` answers, in MiB."""
    drip_s: float = 0.5
    """Seconds between the bytes of a ``drip`` answer."""
    ngram_processor: bool = True
    """Started with DeepSeek's n-gram logits processor: invalid ``vllm_xargs`` are refused.
    False: a server started without it, which silently ignores them."""
    cost_per_request: float | None = None
    """OpenRouter's ``usage.cost`` on every answer (a paid model); None: no cost reported."""
    key_models: tuple[str, ...] | None = None
    """OpenRouter's ``/models/user``: the ids this key may use (None: the whole catalogue)."""
    warmup_s: float = 0.0
    """Once listening, ``/health`` and chat answer 503 this long, as SGLang's do while warming."""
    empty_for_blank: bool = False
    """Answer a blank (near-uniform) image with "" and ``stop``, as DeepSeek-OCR does."""
    loop_period: int | None = None
    """Every page loops with this period in tokens (``length``) unless the request's n-gram
    guard reaches that far (``window_size - ngram_size + 1 >= loop_period``)."""
    loop_escape_temperature: float | None = None
    """With ``loop_period``: a request at this temperature or above does not loop."""
    max_num_seqs: int | None = None
    """Answers decoded at once, like vLLM's ``--max-num-seqs``: further requests wait their
    turn, so one replica's throughput is capped at ``max_num_seqs / latency``. None: no cap."""
    reference_pdf: str | None = None
    """Answer with this PDF's own text for the page each image shows (``pagebook.py``)."""
    invent_pages: tuple[int, ...] = ()
    """With ``reference_pdf``: pages answered with invented text instead."""
    halve_pages: tuple[int, ...] = ()
    """With ``reference_pdf``: pages answered with only the first half of their text."""

    def __post_init__(self) -> None:
        """Reject settings that would make the server silently do something else."""
        if self.style not in ("deepseek", "plain"):
            raise ValueError(f"style must be 'deepseek' or 'plain', not {self.style!r}")
        check_fault_kinds(self.faults)
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], not {self.fail_rate}")
        if self.fail_rate > 0 and not self.faults:
            raise ValueError("fail_rate > 0 needs at least one fault kind")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], not {self.jitter}")
        delays = (
            self.latency_s,
            self.per_token_s,
            self.start_delay_s,
            self.timeout_fault_s,
            self.warmup_s,
            self.drip_s,
        )
        if self.cost_per_request is not None and not 0 <= self.cost_per_request < 1e6:
            raise ValueError("cost_per_request must be within [0, 1e6)")
        if min(delays) < 0 or (self.retry_after_s is not None and self.retry_after_s < 0):
            raise ValueError("latencies, delays and retry_after_s must not be negative")
        if not 0 < self.hostile_mb <= 1024:
            raise ValueError(f"hostile_mb must be within (0, 1024], not {self.hostile_mb}")
        if self.max_model_len <= 0:
            raise ValueError(f"max_model_len must be positive, not {self.max_model_len}")
        if self.max_num_seqs is not None and self.max_num_seqs <= 0:
            raise ValueError(f"max_num_seqs must be positive, not {self.max_num_seqs}")
        if self.loop_period is not None and self.loop_period <= 0:
            raise ValueError(f"loop_period must be positive, not {self.loop_period}")
        if (self.invent_pages or self.halve_pages) and self.reference_pdf is None:
            raise ValueError("invent_pages and halve_pages need reference_pdf")
        if self.loop_escape_temperature is not None and self.loop_escape_temperature < 0:
            raise ValueError("loop_escape_temperature must not be negative")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request as the server saw it.

    ``status`` is None when no response was sent (the ``reset`` fault). ``image_sha1`` is the
    full SHA-1 hex digest of the base64 text; the page content quotes its first 12 characters.
    """

    path: str
    status: int | None
    image_sha1: str | None = None
    width: int | None = None
    height: int | None = None
    fault: str | None = None
    started: int | None = None
    """A chat request's number on the server's event clock when it arrived (None: not chat)."""
    finished: int | None = None
    """Its number on the same clock when it was recorded, just before the answer went out:
    ``a.started < b.finished`` says ``a`` reached the server before ``b`` was answered."""


@dataclass(frozen=True, slots=True)
class MockStats:
    """A snapshot of what the server has done since start (or ``MockServer.reset_stats``).

    ``chat_ok`` counts normal page transcriptions sent (including late ones after a
    ``timeout`` fault); fault answers such as ``empty`` or ``length`` are only in
    ``faults_injected``. ``max_in_flight`` is the most chat requests held at once.
    """

    chat_requests: int = 0
    chat_ok: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    connections_opened: int = 0
    max_in_flight: int = 0
    requests: list[RequestRecord] = field(default_factory=list)
