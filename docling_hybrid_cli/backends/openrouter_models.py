"""check-server for OpenRouter: does the model id exist, and may this key use it?

A key can be fine while every page still fails: the model id is misspelt or
retired (404 on every request), or the account's privacy settings or a
guardrail on the key exclude every provider of the model ("No endpoints found
matching your data policy", or a 403). OpenRouter answers both questions
without spending a request: ``GET /models`` lists every model, and
``GET /models/user`` lists those this key may use after its provider
preferences, privacy settings and guardrails
(https://openrouter.ai/docs/api-reference/list-models-filtered-by-user-provider-preferences-privacy-settings-and-guardrails).
"""

from __future__ import annotations

import difflib
from typing import Any

from ..backend_configs import HttpBackendConfig
from ..client import ChatClient
from ..errors import BackendError
from ..health_report import CHECK_TIMEOUT_S, HealthReport
from ..jsonsafe import json_of
from .server_checks import strip_name

__all__ = ["check_model_available"]

_MAX_MODELS = 20_000
"""More ids than any real catalogue: a longer list is not read."""


async def _model_ids(client: ChatClient, url: str) -> set[str] | BackendError:
    """The ``data[].id`` of a model list, or the error that kept us from it."""
    try:
        response = await client.get(url, timeout_s=CHECK_TIMEOUT_S)
        body: Any = json_of(response)
    except BackendError as exc:
        return exc
    except ValueError:
        body = None
    cards = body.get("data") if isinstance(body, dict) else None
    if not isinstance(cards, list):
        return set()
    return {
        card["id"]
        for card in cards[:_MAX_MODELS]
        if isinstance(card, dict) and isinstance(card.get("id"), str)
    }


async def check_model_available(
    config: HttpBackendConfig, client: ChatClient, report: HealthReport
) -> None:
    """Fail ``report`` when the model does not exist or is not available to this key.

    A list that cannot be fetched leaves the report ready with a warning:
    pages will say what is wrong if anything is.
    """
    model = config.model
    usable = await _model_ids(client, f"{config.base_url}/models/user")
    if isinstance(usable, set) and model in usable:
        return
    catalogue = await _model_ids(client, f"{config.base_url}/models")
    if isinstance(catalogue, set) and catalogue and model not in catalogue:
        close = difflib.get_close_matches(model, sorted(catalogue), n=1, cutoff=0.6)
        hint = f"set backends.{config.name}.model to an id listed at https://openrouter.ai/models"
        if close:
            hint = (
                f"did you mean {close[0]!r}? "
                f"docling-hybrid-ocr config set backends.{config.name}.model {close[0]}"
            )
        report.fail("misconfigured", f"OpenRouter has no model {model!r}", hint)
        return
    if isinstance(usable, set) and usable:
        known = isinstance(catalogue, set) and model in catalogue
        report.fail(
            "misconfigured",
            f"model {model!r} is not available to this key: "
            + ("" if known else "it may not exist, or ")
            + "the account's privacy settings or a guardrail exclude all of its providers",
            "allow its providers at https://openrouter.ai/settings/privacy (free models need "
            "the setting that lets providers use prompts), or lift the key's guardrail",
        )
        return
    failed = usable if isinstance(usable, BackendError) else catalogue
    detail = f" ({strip_name(config, failed)})" if isinstance(failed, BackendError) else ""
    report.warnings.append(f"could not check that this key may use the model{detail}")
