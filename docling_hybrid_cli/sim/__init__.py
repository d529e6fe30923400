"""A simulated OpenAI-compatible vision server that behaves like vLLM serving DeepSeek-OCR.

Integration tests and the ``benchmark`` command need a server that answers, fails and stalls the
way the real ones do, without a GPU:

* vLLM's response and error bodies (400 validation errors, 404 for a wrong model, 401
  ``{"error":"Unauthorized"}`` when an API key is set), its empty-bodied ``/health``, its
  Prometheus ``/metrics``, and a port that refuses connections while the model "loads";
* OpenRouter's habits: 429 with ``Retry-After``, the daily free cap's 429 with
  ``X-RateLimit-*`` headers, a 200 that carries an ``error`` and no ``choices``,
  ``/api/v1/key`` with the free-tier daily quota, and its model lists;
* misconfigured or busy servers: a vLLM without DeepSeek's n-gram logits processor
  (``ngram_processor=False``), 503 while warming up (``warmup_s``), and vLLM's 400 for a
  request over ``max_model_len`` (DeepSeek-OCR-2's image tokens when it serves that model);
* its own counters as JSON at ``/_mock/stats``, for callers that run it in another process;
* page content that downstream code can check: every answer names the decoded image's pixel
  size as ``{W}x{H}``, and in ``deepseek`` style wraps blocks in DeepSeek-OCR's grounding tags.

Faults are injected per chat request, first from a queue (:meth:`MockServer.inject`) and then at
random with ``fail_rate`` from a seeded RNG, so every scenario is reproducible.

The benchmark measures the *client* against this server, so the server must cost little per
request. It is stdlib plus Pillow: one asyncio loop on a daemon thread, HTTP/1.1 keep-alive,
bodies read with ``readexactly`` by Content-Length, and image inspection limited to Pillow's lazy
``Image.open(...).size`` and a SHA-1 of the base64 text.

Modules, from the wire up: :mod:`.http` (HTTP/1.1 framing), :mod:`.faults` (which fault a request
gets), :mod:`.config` (settings and stats types), :mod:`.answers` (what the model says and how
vLLM wraps it), :mod:`.validation` (vLLM's request checks), :mod:`.counters` (stats and
``/metrics``), :mod:`.chat` (the chat route), :mod:`.app` (all routes), :mod:`.server` (socket,
thread and lifecycle), :mod:`.command` (the ``python -m`` entry point).
"""

from docling_hybrid_cli.sim.command import main
from docling_hybrid_cli.sim.config import MockConfig, MockStats, RequestRecord
from docling_hybrid_cli.sim.faults import FAULT_KINDS
from docling_hybrid_cli.sim.server import MockServer

__all__ = ["FAULT_KINDS", "MockConfig", "MockServer", "MockStats", "RequestRecord", "main"]
