"""OpenRouter's readiness: the key is present and accepted, its quota not used up."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from health_support import (
    NEMOTRON_FREE,
    OR_BASE,
    SECRET,
    check,
    openrouter,
    openrouter_models,
)


def test_openrouter_key_accepted_reports_limits(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{OR_BASE}/key").respond(
        json={
            "data": {
                "label": "sk-or-v1-abc...xyz",
                "limit": None,
                "usage": 0.25,
                "free_model_daily_requests": {"used": 3, "limit": 50, "remaining": 47},
            }
        }
    )
    openrouter_models(respx_mock)

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.ready
    assert route.calls.last.request.headers["authorization"] == f"Bearer {SECRET}"
    assert report.key is not None
    assert report.key.present and report.key.accepted
    assert report.key.usage == 0.25
    assert report.key.free_model_daily_requests == {"used": 3, "limit": 50, "remaining": 47}
    assert SECRET not in json.dumps(report.to_dict())


def test_openrouter_key_rejected_401(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{OR_BASE}/key").respond(401, json={"error": {"code": 401, "message": "nope"}})

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.state == "misconfigured"
    assert report.key is not None and report.key.accepted is False
    assert report.reason is not None and "OPENROUTER_API_KEY" in report.reason
    assert SECRET not in json.dumps(report.to_dict())


@pytest.mark.respx(assert_all_called=False)
def test_openrouter_missing_key_fails_without_a_request(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{OR_BASE}/key").respond(200, json={"data": {}})

    report = check(openrouter(), {}, respx_mock)

    assert not route.called
    assert report.state == "misconfigured"
    assert report.reason == "OPENROUTER_API_KEY is not set"
    assert report.hint is not None and "OPENROUTER_API_KEY" in report.hint


def test_openrouter_free_quota_used_up_is_not_ready(respx_mock: respx.MockRouter) -> None:
    quota = {"used": 50, "limit": 50, "remaining": 0}
    respx_mock.get(f"{OR_BASE}/key").respond(json={"data": {"free_model_daily_requests": quota}})

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.state == "misconfigured"
    assert report.reason is not None and "50/50" in report.reason


KEY_OK = {"data": {"label": "k", "free_model_daily_requests": {"used": 1, "limit": 50}}}


def test_model_available_to_the_key_is_ready(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{OR_BASE}/key").respond(json=KEY_OK)
    every, usable = openrouter_models(respx_mock)

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.ready
    assert usable.called and not every.called  # the key's own list settles it
    assert usable.calls.last.request.headers["authorization"] == f"Bearer {SECRET}"


def test_unknown_model_id_is_misconfigured_with_the_closest_id(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{OR_BASE}/key").respond(json=KEY_OK)
    openrouter_models(respx_mock)

    report = check(
        openrouter("nvidia/nemotron-nano-12b-vl:free"), {"OPENROUTER_API_KEY": SECRET}, respx_mock
    )

    assert report.state == "misconfigured"
    assert report.reason == "OpenRouter has no model 'nvidia/nemotron-nano-12b-vl:free'"
    assert report.hint is not None and NEMOTRON_FREE in report.hint


@pytest.mark.parametrize("catalogue_up", [True, False], ids=["exists", "catalogue-down"])
def test_model_hidden_by_privacy_settings_or_guardrails(
    respx_mock: respx.MockRouter, catalogue_up: bool
) -> None:
    """The key's list (privacy settings, guardrails) leaves the model out."""
    respx_mock.get(f"{OR_BASE}/key").respond(json=KEY_OK)
    _, usable = openrouter_models(respx_mock, for_key=("nvidia/nemotron-nano-12b-v2-vl",))
    if not catalogue_up:
        respx_mock.get(f"{OR_BASE}/models").respond(503)

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert usable.called
    assert report.state == "misconfigured"
    assert report.reason is not None and "not available to this key" in report.reason
    assert ("may not exist" in report.reason) is not catalogue_up
    assert report.hint is not None and "settings/privacy" in report.hint


@pytest.mark.parametrize(
    ("user", "every", "ready", "warned"),
    [
        pytest.param(404, 200, True, True, id="no-user-list-model-exists"),
        pytest.param(500, 500, True, True, id="both-lists-fail"),
        pytest.param(200, 503, True, True, id="empty-user-list-catalogue-down"),
    ],
)
def test_lists_that_cannot_be_read_do_not_fail_the_check(
    respx_mock: respx.MockRouter, user: int, every: int, ready: bool, warned: bool
) -> None:
    respx_mock.get(f"{OR_BASE}/key").respond(json=KEY_OK)
    respx_mock.get(f"{OR_BASE}/models/user").mock(
        return_value=httpx.Response(user, json={"data": []})
    )
    respx_mock.get(f"{OR_BASE}/models").mock(
        return_value=httpx.Response(every, json={"data": [{"id": NEMOTRON_FREE}]})
    )

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.ready is ready
    assert bool(report.warnings) is warned
