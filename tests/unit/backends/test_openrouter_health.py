"""OpenRouter's readiness: the key is present and accepted, its quota not used up."""

from __future__ import annotations

import json

import pytest
import respx
from health_support import (
    OR_BASE,
    SECRET,
    check,
    openrouter,
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
