"""The chat-completions client: the request it sends and how each answer maps to the error tree."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import time
import weakref
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest
import respx

from docling_hybrid_cli.client import (
    ChatClient,
    ChatResult,
    build_chat_body,
    translate_httpx_error,
)
from docling_hybrid_cli.errors import (
    BackendConnectError,
    BackendError,
    BackendRateLimited,
    BackendRejected,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
    BadModelOutput,
    EmptyAnswer,
    LoopedAnswer,
    WithheldAnswer,
)
from docling_hybrid_cli.pages import PageImage

BASE = "http://ocr.test/v1"
CHAT = f"{BASE}/chat/completions"
KEY = "sk-or-v1-PLANTED-SECRET-0123456789"

Answer = httpx.Response | type[Exception] | Exception
Chat = Callable[..., ChatResult]


def completion(
    content: Any = "# Page\n\nText.",
    *,
    finish_reason: Any = "stop",
    usage: dict[str, Any] | None = None,
    model: str = "served-model",
) -> dict[str, Any]:
    """An OpenAI-shaped chat completion body."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage if usage is not None else {"prompt_tokens": 900, "completion_tokens": 42},
    }


@pytest.fixture
def page() -> PageImage:
    """A small page whose bytes include values that base64 must carry exactly."""
    return PageImage(page=3, data=bytes(range(256)) * 3, mime="image/png", width=10, height=20)


@pytest.fixture
def body(page: PageImage) -> bytes:
    """A prebuilt request body for ``page``."""
    return build_chat_body(
        model="some/model", page=page, prompt="Read it.", params={"temperature": 0.0}
    )


@pytest.fixture
def chat(respx_mock: respx.MockRouter, body: bytes) -> Chat:
    """Send ``body`` once to a respx route answering ``answer``; return the ChatResult."""

    def run(answer: Answer, *, api_key: str | None = KEY, base_url: str = BASE) -> ChatResult:
        route = respx_mock.post(CHAT)
        if isinstance(answer, httpx.Response):
            route.mock(return_value=answer)
        else:
            route.mock(side_effect=answer)

        async def go() -> ChatResult:
            client = ChatClient(
                backend="ds", base_url=base_url, http=mocked_http(respx_mock), api_key=api_key
            )
            try:
                return await client.chat(body)
            finally:
                await client.aclose()

        return asyncio.run(go())

    return run


def mocked_http(router: respx.MockRouter) -> httpx.AsyncClient:
    """An httpx client whose transport is the respx router, whatever the default transport is."""
    return httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))


def sent_request(respx_mock: respx.MockRouter) -> httpx.Request:
    """The one request respx saw."""
    assert respx_mock.calls.call_count == 1
    return respx_mock.calls.last.request


# --------------------------------------------------------------------------- request shape


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg"])
def test_request_shape(respx_mock: respx.MockRouter, chat: Chat, mime: str) -> None:
    """POST {base}/chat/completions: model, one user message [image data URL, text], params."""
    page = PageImage(page=1, data=b"\xff\xd8\x00binary\x01" * 50, mime=mime, width=5, height=5)
    params = {"temperature": 0.0, "max_tokens": 123, "vllm_xargs": {"ngram_size": 30}}
    respx_mock.post(CHAT).mock(return_value=httpx.Response(200, json=completion()))

    async def go() -> None:
        client = ChatClient(backend="ds", base_url=BASE + "/", http=mocked_http(respx_mock))
        body = build_chat_body(model="m/x", page=page, prompt="Read it.", params=params)
        await client.chat(body)
        await client.aclose()

    asyncio.run(go())
    request = sent_request(respx_mock)
    assert request.method == "POST"
    assert str(request.url) == CHAT
    assert request.headers["content-type"] == "application/json"
    payload = json.loads(request.content)
    assert payload["model"] == "m/x"
    assert payload["temperature"] == 0.0
    assert payload["max_tokens"] == 123
    assert payload["vllm_xargs"] == {"ngram_size": 30}
    [message] = payload["messages"]
    assert message["role"] == "user"
    image_part, text_part = message["content"]
    assert image_part["type"] == "image_url"
    prefix = f"data:{mime};base64,"
    url = image_part["image_url"]["url"]
    assert url.startswith(prefix)
    assert base64.b64decode(url[len(prefix) :], validate=True) == page.data
    assert text_part == {"type": "text", "text": "Read it."}


def test_system_message_comes_first(page: PageImage) -> None:
    """An optional system message precedes the single user message."""
    body = build_chat_body(model="m", page=page, prompt="p", params={}, system="Be terse.")
    messages = json.loads(body)["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == "Be terse."


def test_prompt_with_quotes_and_unicode_survives(page: PageImage) -> None:
    """The prompt is JSON-escaped correctly around the spliced image."""
    prompt = 'Say "hi" — <|grounding|>\n\\ done ✓'
    body = build_chat_body(model="m", page=page, prompt=prompt, params={"x": "ü"})
    payload = json.loads(body)
    assert payload["messages"][0]["content"][1]["text"] == prompt
    assert payload["x"] == "ü"


@pytest.mark.parametrize(
    ("api_key", "expected"), [(KEY, f"Bearer {KEY}"), (None, None), ("", None)]
)
def test_authorization_only_with_a_key(
    respx_mock: respx.MockRouter, chat: Chat, api_key: str | None, expected: str | None
) -> None:
    """Authorization: Bearer is sent only when a key is configured."""
    chat(httpx.Response(200, json=completion()), api_key=api_key)
    assert sent_request(respx_mock).headers.get("authorization") == expected


def test_extra_headers_are_sent(respx_mock: respx.MockRouter, body: bytes) -> None:
    """Configured headers (e.g. OpenRouter's X-Title) go with every request."""
    respx_mock.post(CHAT).mock(return_value=httpx.Response(200, json=completion()))

    async def go() -> None:
        client = ChatClient(
            backend="ds", base_url=BASE, http=mocked_http(respx_mock), headers={"X-Title": "t"}
        )
        await client.chat(body)
        await client.aclose()

    asyncio.run(go())
    assert sent_request(respx_mock).headers["x-title"] == "t"


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("# Title\n\nBody", "# Title\n\nBody"),
        (
            [{"type": "text", "text": "# Title"}, {"type": "text", "text": "\n\nBody"}],
            "# Title\n\nBody",
        ),
        ([{"type": "text", "text": "A"}, "junk", {"type": "image"}, {"text": "B"}], "AB"),
    ],
)
def test_content_as_string_or_parts(chat: Chat, content: Any, expected: str) -> None:
    """message.content may be a string or a list of typed parts."""
    assert chat(httpx.Response(200, json=completion(content))).content == expected


def test_usage_cost_model_and_finish_reason(chat: Chat) -> None:
    """Token counts, OpenRouter's usage.cost, the served model and finish_reason are kept."""
    usage = {"prompt_tokens": 903, "completion_tokens": 1500, "cost": 0.0012}
    result = chat(httpx.Response(200, json=completion(usage=usage, model="nvidia/x")))
    assert result.prompt_tokens == 903
    assert result.completion_tokens == 1500
    assert result.cost == pytest.approx(0.0012)
    assert result.model == "nvidia/x"
    assert result.finish_reason == "stop"
    assert result.latency_s >= 0
    assert result.response_id == "chatcmpl-1"


@pytest.mark.parametrize("value", [None, 42, "", "x" * 201, "chatcmpl-\n1", ["id"]])
def test_odd_response_id_is_dropped(chat: Chat, value: Any) -> None:
    """The id is only kept as a short printable string: it goes into reports as is."""
    payload = completion()
    payload["id"] = value
    assert chat(httpx.Response(200, json=payload)).response_id is None


@pytest.mark.parametrize(
    "usage",
    [
        {},
        None,
        "n/a",
        {"prompt_tokens": "9", "completion_tokens": True, "cost": "free"},
        {"prompt_tokens": -1, "completion_tokens": 10**400, "cost": float("nan")},
        {"prompt_tokens": 1.5, "completion_tokens": None, "cost": float("inf")},
        {"cost": -0.5},
        {"cost": 10**400},
    ],
)
def test_missing_or_odd_usage_is_none(chat: Chat, usage: Any) -> None:
    """Absent or mistyped usage fields become None instead of crashing."""
    payload = completion()
    payload["usage"] = usage
    # Python's json writes NaN and Infinity as bare literals, as a careless server would.
    raw = json.dumps(payload).encode()
    result = chat(httpx.Response(200, content=raw, headers={"content-type": "application/json"}))
    assert (result.prompt_tokens, result.completion_tokens, result.cost) == (None, None, None)


# --------------------------------------------------------------------------- transport errors


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError, BackendConnectError),
        # A connect that times out is a server we cannot reach: it counts for the breaker.
        (httpx.ConnectTimeout, BackendConnectError),
        (httpx.ReadTimeout, BackendTimeout),
        (httpx.WriteTimeout, BackendTimeout),
        (httpx.PoolTimeout, BackendTimeout),
        (httpx.RemoteProtocolError, BackendUnavailable),
        (httpx.ReadError, BackendUnavailable),
    ],
)
def test_transport_errors(chat: Chat, exc: type[Exception], expected: type[BackendError]) -> None:
    """Every httpx transport failure becomes a retryable BackendUnavailable of the right kind."""
    with pytest.raises(BackendError) as info:
        chat(exc)
    assert type(info.value) is expected
    assert info.value.retryable
    assert info.value.backend == "ds"
    assert "ocr.test" in str(info.value)


def _httpx_exception_classes() -> list[type[BaseException]]:
    """Every exception class httpx exports, and every subclass of those inside httpx."""
    found: set[type[BaseException]] = set()
    pending = [
        obj
        for name in httpx.__all__
        if isinstance(obj := getattr(httpx, name), type) and issubclass(obj, BaseException)
    ]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("httpx") and cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


def _bare(cls: type[BaseException], message: str = "boom") -> BaseException:
    """An instance without running ``__init__``, whose signature varies across httpx's classes."""
    exc = cls.__new__(cls)
    exc.args = (message,)
    return exc


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda cls: cls.__name__)
def test_every_httpx_exception_maps_into_the_tree(cls: type[BaseException]) -> None:
    """Whatever httpx raises becomes one of our errors, named after the backend."""
    error = translate_httpx_error(_bare(cls), backend="ds", url=CHAT)
    assert isinstance(error, BackendError)
    assert error.backend == "ds"
    assert str(error).startswith("ds: ")


@pytest.mark.parametrize(
    ("exc", "expected", "message"),
    [
        (httpx.ConnectTimeout, BackendConnectError, f"ds: connection to {CHAT} timed out"),
        (
            httpx.ConnectError,
            BackendConnectError,
            f"ds: cannot connect to {CHAT} (is the server running?)",
        ),
        (httpx.ReadTimeout, BackendTimeout, f"ds: no answer from {CHAT} in time (ReadTimeout)"),
        (httpx.PoolTimeout, BackendTimeout, f"ds: no answer from {CHAT} in time (PoolTimeout)"),
        (httpx.ProxyError, BackendUnavailable, f"ds: connection to {CHAT} dropped (ProxyError)"),
        (
            httpx.UnsupportedProtocol,
            BackendUnavailable,
            f"ds: connection to {CHAT} dropped (UnsupportedProtocol)",
        ),
        (httpx.WriteError, BackendUnavailable, f"ds: connection to {CHAT} dropped (WriteError)"),
        (
            httpx.TooManyRedirects,
            BackendRejected,
            f"ds: request to {CHAT} failed (TooManyRedirects)",
        ),
        (httpx.DecodingError, BackendRejected, f"ds: request to {CHAT} failed (DecodingError)"),
        (httpx.StreamClosed, BackendRejected, f"ds: request to {CHAT} failed (StreamClosed)"),
        (httpx.InvalidURL, BackendRejected, f"ds: request to {CHAT} failed (InvalidURL)"),
    ],
)
def test_httpx_exception_class_and_message(
    exc: type[BaseException], expected: type[BackendError], message: str
) -> None:
    """The most specific entry wins: a ConnectTimeout is a connect error, not a timeout."""
    error = translate_httpx_error(_bare(exc), backend="ds", url=CHAT)
    assert type(error) is expected
    assert str(error) == message
    assert error.status is None


def test_a_later_httpx_subclass_maps_like_its_parent() -> None:
    class HappyEyeballsFailed(httpx.ConnectError):
        pass

    error = translate_httpx_error(HappyEyeballsFailed("x"), backend="ds", url=CHAT)
    assert type(error) is BackendConnectError


def test_only_httpx_exceptions_are_translated() -> None:
    with pytest.raises(TypeError):
        translate_httpx_error(ValueError("x"), backend="ds", url=CHAT)


def test_an_unparseable_url_is_a_rejection_not_a_crash(respx_mock: respx.MockRouter) -> None:
    """A base_url httpx cannot parse fails the backend with a message, not a traceback."""

    async def go() -> None:
        client = ChatClient(backend="ds", base_url="http://[::1/v1", http=mocked_http(respx_mock))
        try:
            await client.chat(b"{}")
        finally:
            await client.aclose()

    with pytest.raises(BackendRejected) as info:
        asyncio.run(go())
    assert str(info.value) == "ds: request to an invalid URL failed (InvalidURL)"


def test_url_credentials_and_query_never_in_messages(
    respx_mock: respx.MockRouter, body: bytes
) -> None:
    """A base_url carrying user:password is shown without the credentials."""
    secret_base = f"http://user:{KEY}@ocr.test/v1"
    respx_mock.post(host="ocr.test", path="/v1/chat/completions").mock(
        side_effect=httpx.ConnectError
    )

    async def go() -> None:
        client = ChatClient(backend="ds", base_url=secret_base, http=mocked_http(respx_mock))
        try:
            await client.chat(body)
        finally:
            await client.aclose()

    with pytest.raises(BackendConnectError) as info:
        asyncio.run(go())
    assert KEY not in str(info.value)
    assert "http://ocr.test/v1/chat/completions" in str(info.value)


# --------------------------------------------------------------------------- HTTP statuses


def http_date(offset_s: float) -> str:
    return formatdate(time.time() + offset_s, usegmt=True)


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (429, {}, None),
        (429, {"Retry-After": "7"}, 7.0),
        (429, {"Retry-After": "2.5"}, 2.5),
        (429, {"Retry-After": "-3"}, 0.0),
        (429, {"Retry-After": "soon"}, None),
        (429, {"Retry-After": http_date(-3600)}, 0.0),
        (402, {"Retry-After": "30"}, 30.0),
    ],
)
def test_rate_limited(
    chat: Chat, status: int, headers: dict[str, str], retry_after: float | None
) -> None:
    """429 (and 402 with Retry-After) is BackendRateLimited carrying the server's wait."""
    error = {"error": {"message": "Rate limit exceeded: free-models-per-min", "code": status}}
    with pytest.raises(BackendRateLimited) as info:
        chat(httpx.Response(status, json=error, headers=headers))
    assert info.value.status == status
    assert info.value.retry_after == retry_after
    assert "Rate limit exceeded" in str(info.value)


def test_retry_after_http_date_in_the_future(chat: Chat) -> None:
    """A Retry-After HTTP-date becomes the seconds until that moment."""
    with pytest.raises(BackendRateLimited) as info:
        chat(httpx.Response(429, headers={"Retry-After": http_date(120)}))
    assert info.value.retry_after is not None
    assert 100 < info.value.retry_after <= 121


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors(chat: Chat, status: int) -> None:
    """408 and 5xx are BackendServerError: retryable, with the status."""
    body = {"error": {"message": "EngineCore died", "type": "InternalServerError", "code": status}}
    with pytest.raises(BackendServerError) as info:
        chat(httpx.Response(status, json=body))
    assert info.value.status == status
    assert info.value.retryable
    assert f"HTTP {status}" in str(info.value)
    assert "EngineCore died" in str(info.value)


def test_503_keeps_retry_after(chat: Chat) -> None:
    """A 503 with Retry-After tells the retry loop how long to wait."""
    with pytest.raises(BackendServerError) as info:
        chat(httpx.Response(503, headers={"Retry-After": "4"}, text="overloaded"))
    assert info.value.retry_after == 4.0


@pytest.mark.parametrize(
    ("status", "hint_word"),
    [(400, None), (401, "key"), (402, None), (403, "key"), (404, "model"), (422, None)],
)
def test_rejected(chat: Chat, status: int, hint_word: str | None) -> None:
    """Other 4xx are BackendRejected: never retried; 401/403 hint at the key, 404 at the model."""
    with pytest.raises(BackendRejected) as info:
        chat(httpx.Response(status, json={"error": {"message": "nope", "code": status}}))
    assert not info.value.retryable
    assert info.value.status == status
    if hint_word is None:
        assert info.value.hint is None
    else:
        assert info.value.hint is not None
        assert hint_word in info.value.hint


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(
            httpx.Response(
                400,
                json={
                    "error": {
                        "message": "max_tokens=9000 cannot be greater than max_model_len=8192.",
                        "type": "BadRequestError",
                        "param": "max_tokens",
                        "code": 400,
                    }
                },
            ),
            "max_tokens=9000 cannot be greater than max_model_len=8192.",
            id="vllm-nested",
        ),
        pytest.param(
            httpx.Response(
                403,
                json={
                    "error": {
                        "message": "Input was flagged",
                        "code": 403,
                        "metadata": {"provider_name": "Nvidia", "reasons": ["x"]},
                    }
                },
            ),
            "Input was flagged (provider Nvidia)",
            id="openrouter",
        ),
        pytest.param(
            httpx.Response(
                404,
                json={
                    "object": "error",
                    "message": "The model `x` does not exist.",
                    "type": "NotFoundError",
                    "param": None,
                    "code": 404,
                },
            ),
            "The model `x` does not exist.",
            id="vllm-flat-older",
        ),
        pytest.param(
            httpx.Response(401, json={"error": "Unauthorized"}),
            "Unauthorized",
            id="vllm-string-401",
        ),
        pytest.param(
            httpx.Response(400, json={"detail": "Not Found"}),
            "Not Found",
            id="fastapi-detail",
        ),
        pytest.param(
            httpx.Response(400, text="<html><body>bad\nrequest</body></html>"),
            "<html><body>bad request</body></html>",
            id="non-json",
        ),
        pytest.param(httpx.Response(404, content=b""), "Not Found", id="empty-body"),
        pytest.param(
            httpx.Response(400, json={"error": {"code": "context_length_exceeded"}}),
            "context_length_exceeded",
            id="code-only",
        ),
    ],
)
def test_rejection_message_from_every_error_shape(
    chat: Chat, response: httpx.Response, expected: str
) -> None:
    """The server's own message is found in each server family's error shape, on one line."""
    with pytest.raises(BackendRejected) as info:
        chat(response)
    message = str(info.value)
    assert message == f"ds: HTTP {response.status_code}: {expected}"
    assert "\n" not in message


def test_long_error_body_is_truncated(chat: Chat) -> None:
    """A huge error body does not become a huge error line."""
    with pytest.raises(BackendRejected) as info:
        chat(httpx.Response(400, json={"error": {"message": "x" * 5000}}))
    assert len(str(info.value)) < 400


# --------------------------------------------------------------------------- unusable 200s


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        pytest.param(
            {"error": {"message": "Provider returned error", "code": 502}},
            "Provider returned error",
            id="200-with-error",
        ),
        pytest.param({"error": "overloaded", "choices": []}, "overloaded", id="200-string-error"),
        pytest.param({"id": "x", "choices": []}, "no choices", id="empty-choices"),
        pytest.param({"id": "x"}, "no choices", id="missing-choices"),
        pytest.param({"choices": ["text"]}, "no choices", id="choice-not-object"),
        pytest.param([1, 2], "not a JSON object", id="json-list"),
        pytest.param(completion("partial", finish_reason="error"), "failed", id="finish-error"),
        pytest.param(completion("partial", finish_reason="abort"), "aborted", id="finish-abort"),
    ],
)
def test_bad_model_output(chat: Chat, payload: Any, words: str) -> None:
    """A 200 that cannot be page text is BadModelOutput (retryable, then fall back)."""
    with pytest.raises(BadModelOutput) as info:
        chat(httpx.Response(200, json=payload))
    assert words in str(info.value)
    assert info.value.retryable


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(completion(""), id="empty-content"),
        pytest.param(completion("  \n\t "), id="blank-content"),
        pytest.param(completion(None), id="null-content"),
        pytest.param(completion([]), id="no-parts"),
        pytest.param(completion("", finish_reason=None), id="empty-no-finish-reason"),
        pytest.param(completion("", finish_reason="eos_token"), id="empty-eos-token"),
    ],
)
def test_empty_finished_answer(chat: Chat, payload: Any) -> None:
    """A finished answer without text is EmptyAnswer: not on the transient retry budget."""
    with pytest.raises(EmptyAnswer, match="empty answer") as info:
        chat(httpx.Response(200, json=payload))
    assert not info.value.retryable


@pytest.mark.parametrize(
    ("finish_reason", "error", "retryable"),
    [
        ("length", LoopedAnswer, False),
        ("repetition", LoopedAnswer, False),
        ("content_filter", WithheldAnswer, False),
        ("abort", BadModelOutput, True),
        ("error", BadModelOutput, True),
    ],
)
@pytest.mark.parametrize("content", ["Some page text.", ""], ids=["with-text", "empty"])
def test_bad_finish_reasons_are_failed_attempts(
    chat: Chat, finish_reason: str, error: type[BadModelOutput], retryable: bool, content: str
) -> None:
    """The five bad reasons reject the answer, text or not, each as its own kind."""
    with pytest.raises(BadModelOutput) as info:
        chat(httpx.Response(200, json=completion(content, finish_reason=finish_reason)))
    assert type(info.value) is error
    assert info.value.finish_reason == finish_reason
    assert info.value.retryable is retryable
    assert str(info.value).startswith("ds: ")


@pytest.mark.parametrize("finish_reason", ["stop", None, "eos_token", "end_turn", "tool_calls"])
def test_other_finish_reasons_are_finished_answers(chat: Chat, finish_reason: str | None) -> None:
    result = chat(httpx.Response(200, json=completion("# Page", finish_reason=finish_reason)))
    assert result.content == "# Page"
    assert result.finish_reason == finish_reason


@pytest.mark.parametrize("odd", [{"reason": "length"}, 7, "x" * 500, "bad\nreason"])
def test_a_malformed_finish_reason_counts_as_none(chat: Chat, odd: Any) -> None:
    result = chat(httpx.Response(200, json=completion("# Page", finish_reason=odd)))
    assert result.finish_reason is None


def test_missing_message_is_empty_answer(chat: Chat) -> None:
    """A choice without a message is an empty answer, not a crash."""
    with pytest.raises(BadModelOutput, match="empty"):
        chat(httpx.Response(200, json={"choices": [{"finish_reason": "stop"}]}))


def test_200_with_error_carries_status(chat: Chat) -> None:
    """An error inside a 200 is reported with status 200."""
    with pytest.raises(BadModelOutput) as info:
        chat(httpx.Response(200, json={"error": {"message": "boom"}}))
    assert info.value.status == 200


def test_finish_reason_length(chat: Chat) -> None:
    """A truncated answer is BadModelOutput(finish_reason="length"), even with content."""
    with pytest.raises(BadModelOutput) as info:
        chat(httpx.Response(200, json=completion("loop " * 100, finish_reason="length")))
    assert info.value.finish_reason == "length"


def test_200_not_json(chat: Chat) -> None:
    """A 200 whose body is not JSON is BadModelOutput."""
    with pytest.raises(BadModelOutput, match="not JSON"):
        chat(httpx.Response(200, text="<html>proxy login</html>"))


# --------------------------------------------------------------------------- secrets


ECHO = f"Incorrect API key provided: {KEY}"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(httpx.ConnectError, id="connect"),
        pytest.param(httpx.ReadTimeout, id="timeout"),
        pytest.param(httpx.Response(401, json={"error": {"message": ECHO}}), id="401-echo"),
        pytest.param(httpx.Response(401, json={"error": ECHO}), id="401-string-echo"),
        pytest.param(
            httpx.Response(400, text=f"bad header Authorization: Bearer {KEY}"), id="text"
        ),
        pytest.param(
            httpx.Response(429, json={"error": {"message": ECHO}}, headers={"Retry-After": "1"}),
            id="429-echo",
        ),
        pytest.param(httpx.Response(500, json={"message": ECHO}), id="500-flat-echo"),
        pytest.param(httpx.Response(200, json={"error": {"message": ECHO}}), id="200-error-echo"),
        pytest.param(httpx.Response(200, json=completion("")), id="empty"),
    ],
)
def test_api_key_never_in_error_messages(chat: Chat, answer: Answer) -> None:
    """Whatever goes wrong, and even if the server echoes it, the key never reaches a message."""
    with pytest.raises(BackendError) as info:
        chat(answer)
    exc = info.value
    for text in (str(exc), exc.hint or "", repr(exc.args)):
        assert KEY not in text


@pytest.mark.parametrize("pad", [280, 290, 299])
def test_api_key_cut_at_truncation_edge_never_leaks(chat: Chat, pad: int) -> None:
    """A key echoed right where a long message is cut short leaks not even a prefix."""
    with pytest.raises(BackendRejected) as info:
        chat(httpx.Response(401, json={"error": {"message": "x" * pad + KEY}}))
    assert KEY[:8] not in str(info.value)


# --------------------------------------------------------------------------- other requests


def test_get_json_and_server_root(respx_mock: respx.MockRouter) -> None:
    """get_json resolves paths under the API root; server_root drops the /v1."""
    respx_mock.get(f"{BASE}/models").mock(
        return_value=httpx.Response(200, json={"data": [{"id": "m"}]})
    )

    async def go() -> Any:
        client = ChatClient(backend="ds", base_url=BASE, http=mocked_http(respx_mock), api_key=KEY)
        assert client.server_root == "http://ocr.test"
        try:
            return await client.get_json("/models")
        finally:
            await client.aclose()

    assert asyncio.run(go()) == {"data": [{"id": "m"}]}
    assert respx_mock.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


def test_get_maps_status_errors(respx_mock: respx.MockRouter) -> None:
    """A plain GET (e.g. /health) maps a 503 like any other request."""
    respx_mock.get("http://ocr.test/health").mock(return_value=httpx.Response(503))

    async def go() -> None:
        client = ChatClient(backend="ds", base_url=BASE, http=mocked_http(respx_mock))
        try:
            await client.get(f"{client.server_root}/health", timeout_s=2)
        finally:
            await client.aclose()

    with pytest.raises(BackendServerError):
        asyncio.run(go())


@pytest.mark.parametrize("status", [200, 500])
def test_request_body_is_freed_without_the_cycle_collector(body: bytes, status: int) -> None:
    """httpx links a response and its stream in a cycle; the client breaks it.

    Otherwise each ~0.5 MB body waits for the cyclic GC, and dozens pile up on
    long runs (docs/PERFORMANCE.md, target 3).
    """
    sent: list[weakref.ref[httpx.Request]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(weakref.ref(request))
        return httpx.Response(status, json=completion())

    async def go() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        client = ChatClient(backend="ds", base_url=BASE, http=http)
        try:
            await client.chat(body)
        except BackendServerError:
            pass
        finally:
            await client.aclose()

    gc.collect()
    gc.disable()
    try:
        asyncio.run(go())
        assert sent and sent[0]() is None
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("finish", "content", "raises"),
    [
        pytest.param("stop", "# Page", False, id="answer"),
        pytest.param("length", "loop loop", True, id="cut-off"),
        pytest.param("stop", "", True, id="empty"),
    ],
)
def test_every_reported_cost_reaches_the_observer(
    respx_mock: respx.MockRouter, body: bytes, finish: str, content: str, raises: bool
) -> None:
    """The spending cap hears of billed answers even when they are rejected as page text."""
    usage = {"prompt_tokens": 900, "completion_tokens": 42, "cost": 0.0125}
    respx_mock.post(CHAT).respond(json=completion(content, finish_reason=finish, usage=usage))
    seen: list[float] = []

    async def go() -> None:
        client = ChatClient(backend="or", base_url=BASE, http=mocked_http(respx_mock))
        client.on_cost = seen.append
        try:
            await client.chat(body)
        finally:
            await client.aclose()

    if raises:
        with pytest.raises(BadModelOutput):
            asyncio.run(go())
    else:
        asyncio.run(go())
    assert seen == [0.0125]


@pytest.mark.parametrize("cost", [0, -1, "0.5", float("nan"), None])
def test_no_cost_or_a_nonsense_cost_is_not_reported(
    respx_mock: respx.MockRouter, body: bytes, cost: Any
) -> None:
    usage: dict[str, Any] = {"prompt_tokens": 1, "completion_tokens": 1}
    if cost is not None:
        usage["cost"] = cost
    respx_mock.post(CHAT).mock(
        return_value=httpx.Response(200, content=json.dumps(completion(usage=usage)).encode())
    )
    seen: list[float] = []

    async def go() -> None:
        client = ChatClient(backend="or", base_url=BASE, http=mocked_http(respx_mock))
        client.on_cost = seen.append
        try:
            await client.chat(body)
        finally:
            await client.aclose()

    asyncio.run(go())
    assert seen == []
