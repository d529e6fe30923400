"""Is DeepSeek's n-gram repetition guard really active on this vLLM server?

The guard is a vLLM logits processor loaded only when the server is started
with ``--logits-processors
vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor``. Requests
ask for it through ``vllm_xargs``; a server without the processor accepts
those arguments and silently ignores them, so loops run to ``max_tokens``
while every health check looks fine.

A server *with* the processor validates the arguments before generating
anything (``NGramPerReqLogitsProcessor.validate_params``: ``ngram_size`` must
be a positive integer), and vLLM turns that ValueError into a 400
(https://github.com/vllm-project/vllm/blob/main/vllm/model_executor/models/deepseek_ocr.py).
So one text-only request with ``max_tokens: 1`` and ``ngram_size: 0`` tells
them apart at the cost of at most one generated token: a 400 naming
``ngram_size`` means the guard is active, a completion means it is missing.
"""

from __future__ import annotations

import json

from ..backend_configs import HttpBackendConfig
from ..client import ChatClient
from ..errors import BackendError, BadModelOutput
from ..health_report import CHECK_TIMEOUT_S, HealthReport
from .server_checks import strip_name

__all__ = ["NGRAM_PROCESSOR", "check_ngram_guard", "guard_probe_body"]

NGRAM_PROCESSOR = "vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor"


def guard_probe_body(model: str) -> bytes:
    """The cheapest request a server with the processor must refuse: ``ngram_size`` 0."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
        "temperature": 0.0,
        "vllm_xargs": {"ngram_size": 0, "window_size": 1},
    }
    return json.dumps(body).encode()


async def check_ngram_guard(
    config: HttpBackendConfig, client: ChatClient, report: HealthReport
) -> None:
    """Record whether the guard is active; fail ``report`` when the server ignores it.

    An answer that settles nothing (a 5xx, a timeout, another 400) leaves the
    report ready with a warning: the server may still be fine.
    """
    try:
        await client.chat(guard_probe_body(config.model), timeout_s=CHECK_TIMEOUT_S)
    except BadModelOutput as exc:
        if exc.finish_reason is None:
            _undecided(config, report, exc)
            return
        # A finished (or cut-off) completion: the invalid guard was accepted.
    except BackendError as exc:
        if exc.status == 400 and "ngram_size" in str(exc):
            report.ngram_guard = True
            return
        _undecided(config, report, exc)
        return
    report.ngram_guard = False
    report.fail(
        "misconfigured",
        "vLLM runs without DeepSeek's n-gram logits processor: the repetition guard "
        "is silently ignored, so a looping page runs to max_tokens",
        f"restart vLLM with --logits-processors {NGRAM_PROCESSOR} "
        "(scripts/start_vllm_deepseek.sh does)",
    )


def _undecided(config: HttpBackendConfig, report: HealthReport, exc: BackendError) -> None:
    report.warnings.append(
        f"could not tell whether the n-gram repetition guard is active ({strip_name(config, exc)})"
    )
