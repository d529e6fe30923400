"""check-server coordination: waiting for a server, the probe page, the typical page size."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx
from health_support import (
    BASE,
    MODEL,
    PAGE,
    ROOT,
    deepseek,
    mocked,
    models,
    vllm_chat,
)

from docling_hybrid_cli.health import (
    check_backend,
    render_probe_page,
    typical_page_size,
    wait_until_up,
)
from docling_hybrid_cli.settings import ConvertSettings


def test_wait_polls_until_the_server_answers(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{ROOT}/health")
    route.side_effect = [
        httpx.ConnectError("loading"),
        httpx.ConnectError("loading"),
        httpx.Response(200),
    ]
    ticks: list[float] = []

    waited = asyncio.run(
        wait_until_up(
            deepseek(),
            transport=mocked(respx_mock),
            timeout_s=5,
            interval_s=0.01,
            tick=lambda name, s: ticks.append(s),
        )
    )

    assert route.call_count == 3
    assert len(ticks) == 2
    assert waited < 5


def test_wait_keeps_polling_a_server_that_warms_up(respx_mock: respx.MockRouter) -> None:
    """SGLang answers 503 while warming up: --wait goes on until it says 200."""
    route = respx_mock.get(f"{ROOT}/health")
    route.side_effect = [httpx.Response(503), httpx.Response(503), httpx.Response(200)]

    asyncio.run(
        wait_until_up(deepseek(), transport=mocked(respx_mock), timeout_s=5, interval_s=0.01)
    )

    assert route.call_count == 3


def test_wait_on_a_503_that_never_ends_stops_at_the_deadline(
    respx_mock: respx.MockRouter,
) -> None:
    """A dead vLLM engine also says 503: waited for until the deadline, then checked."""
    route = respx_mock.get(f"{ROOT}/health").respond(503)

    waited = asyncio.run(
        wait_until_up(deepseek(), transport=mocked(respx_mock), timeout_s=0.2, interval_s=0.01)
    )

    assert waited >= 0.2  # the loop only ends at the deadline or on a non-503 answer
    assert route.call_count >= 1


@pytest.mark.parametrize("status", [200, 404, 500])
def test_any_other_answer_ends_the_wait_at_once(respx_mock: respx.MockRouter, status: int) -> None:
    route = respx_mock.get(f"{ROOT}/health").respond(status)

    asyncio.run(
        wait_until_up(deepseek(), transport=mocked(respx_mock), timeout_s=5, interval_s=0.01)
    )

    assert route.call_count == 1


def test_wait_gives_up_at_the_deadline(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{ROOT}/health").mock(side_effect=httpx.ConnectError("refused"))

    asyncio.run(
        wait_until_up(deepseek(), transport=mocked(respx_mock), timeout_s=0.05, interval_s=0.01)
    )

    assert 1 <= route.call_count <= 10


def test_typical_page_respects_max_side() -> None:
    assert typical_page_size(ConvertSettings(dpi=144)) == (1224, 1584)
    width, height = typical_page_size(ConvertSettings(dpi=600, max_side=2000))
    assert height == 2000 and width < 2000


def test_probe_page_is_rendered_from_a_generated_sample() -> None:
    page = asyncio.run(render_probe_page(None, ConvertSettings()))
    assert page.page == 1
    assert (page.width, page.height) == (1224, 1584)
    assert page.data[:2] == b"\xff\xd8"


def test_probe_sends_one_page_and_times_it(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL))
    chat = vllm_chat(
        respx_mock,
        {
            "model": MODEL,
            "choices": [
                {"message": {"content": "# Probe\n\nText."}, "finish_reason": "stop"},
            ],
            "usage": {"prompt_tokens": 900, "completion_tokens": 7},
        },
    )
    page = asyncio.run(render_probe_page(None, ConvertSettings()))

    report = asyncio.run(
        check_backend(
            deepseek(),
            page_size=PAGE,
            probe_page=page,
            environ={},
            transport=mocked(respx_mock),
        )
    )

    assert chat.call_count == 2  # the n-gram guard check, then the page
    assert report.ready
    assert report.probe is not None and report.probe.ok
    assert report.probe.completion_tokens == 7
