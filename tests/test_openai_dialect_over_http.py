"""OpenAIDialect over real HTTP, against the scripted fake server: what a provider's bad day looks like."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.errors import ApiError, ErrorKind
from llmprobe.neutral import Message, Reply, Request
from support.fake_openai import DROP, Canned, FakeOpenAI, Pause, chunk, completion, json_response, sse_response
from support.replaying import read_answer

SYNC = Request((Message.user("Say hello."),))
STREAM = Request((Message.user("Say hello."),), stream=True)
USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """One client for the module: building its TLS context costs more than most tests."""
    with httpx.Client(timeout=5) as shared:
        yield shared


def exchange(client: httpx.Client, server: FakeOpenAI, request: Request) -> Reply:
    """What llmprobe's client does, in miniature: send the built call, feed the answer back."""
    dialect = OpenAIDialect(server.base_url)
    call = dialect.build("fake-model", request)
    headers = {**call.headers, **dialect.auth_headers("sk-test")}
    with client.stream(call.method, call.url, json=call.json, headers=headers) as response:
        return read_answer(dialect, response.status_code, response.headers, response.read().decode(), request.stream)


def failure(client: httpx.Client, server: FakeOpenAI, request: Request) -> ApiError:
    with pytest.raises(ApiError) as caught:
        exchange(client, server, request)
    return caught.value


def test_sync_request_is_sent_as_built(client: httpx.Client) -> None:
    limits = {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "99"}
    with FakeOpenAI([json_response(completion("Hello."), headers=limits)]) as server:
        reply = exchange(client, server, SYNC)
    assert (reply.text, reply.finish_reason, reply.usage.total_tokens) == ("Hello.", "stop", 7)
    assert [(r.kind, r.limit, r.remaining) for r in reply.rate_limits] == [("requests", 100, 99)]
    [sent] = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.json == OpenAIDialect(server.base_url).build("fake-model", SYNC).json


def test_keep_alive_comments_are_ignored(client: httpx.Client) -> None:
    events = [": ping\n\n", chunk("Hel"), ": ping\n\n", chunk("lo."), ": ping\n\n", chunk(finish_reason="stop"), chunk(usage=USAGE)]
    with FakeOpenAI([sse_response(events)]) as server:
        reply = exchange(client, server, STREAM)
    assert (reply.text, reply.finish_reason) == ("Hello.", "stop")
    assert server.requests[0].json["stream_options"] == {"include_usage": True}


def test_usage_only_in_final_empty_choices_chunk(client: httpx.Client) -> None:
    with FakeOpenAI([sse_response([chunk("Hi"), chunk(finish_reason="stop"), chunk(usage=USAGE)])]) as server:
        reply = exchange(client, server, STREAM)
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (5, 2, 7)
    assert reply.finish_reason == "stop"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ('{"error":{"message":"overloaded","type":"server_error","status_code":503}}', ErrorKind.SERVER),
        ('{"error":{"message":"bad call","code":"tool_use_failed","status_code":400}}', ErrorKind.MODEL_FAILED),
    ],
)
def test_error_event_mid_stream(client: httpx.Client, error: str, kind: ErrorKind) -> None:
    events = [chunk("Once upon"), chunk(" a time"), f"event: error\ndata: {error}\n\n"]
    with FakeOpenAI([sse_response(events, done=False)]) as server:
        caught = failure(client, server, STREAM)
    assert caught.kind is kind and caught.has_envelope


def test_html_502_is_a_short_server_error(client: httpx.Client) -> None:
    page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>" + b"<center>nginx</center>" * 200 + b"</body></html>"
    with FakeOpenAI([Canned(502, {"Content-Type": "text/html"}, page)]) as server:
        caught = failure(client, server, SYNC)
    assert (caught.kind, caught.status, caught.message) == (ErrorKind.SERVER, 502, "502 Bad Gateway")
    assert not caught.has_envelope and caught.retryable


def test_invalid_json_200_is_unreadable(client: httpx.Client) -> None:
    with FakeOpenAI([Canned(200, {"Content-Type": "application/json"}, b'{"choices": [')]) as server:
        assert failure(client, server, SYNC).kind is ErrorKind.UNREADABLE


def test_invalid_json_data_line_is_unreadable(client: httpx.Client) -> None:
    with FakeOpenAI([sse_response([chunk("Hi"), "data: {oops\n\n"])]) as server:
        assert failure(client, server, STREAM).kind is ErrorKind.UNREADABLE


def test_401_is_auth(client: httpx.Client) -> None:
    body = {"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}
    with FakeOpenAI([json_response(body, status=401)]) as server:
        caught = failure(client, server, STREAM)
    assert (caught.kind, caught.status, caught.code) == (ErrorKind.AUTH, 401, "invalid_api_key")


def test_404_model_not_found(client: httpx.Client) -> None:
    body = {"error": {"message": "The model `fake-model` does not exist", "code": "model_not_found"}}
    with FakeOpenAI([json_response(body, status=404)]) as server:
        caught = failure(client, server, SYNC)
    assert (caught.kind, caught.code) == (ErrorKind.NOT_FOUND, "model_not_found")
    assert "fake-model" in caught.message


def test_429_with_retry_after(client: httpx.Client) -> None:
    body = {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}
    with FakeOpenAI([json_response(body, status=429, headers={"Retry-After": "3"})]) as server:
        caught = failure(client, server, SYNC)
    assert (caught.kind, caught.retry_after) == (ErrorKind.RATE_LIMITED, 3.0)


def test_fastapi_500_keeps_its_detail(client: httpx.Client) -> None:
    """llama-cpp-python answers an unknown response_format this way (a pydantic error under `detail`)."""
    detail = {"detail": [{"loc": ["body", "response_format", "type"], "msg": "Input should be 'text' or 'json_object'"}]}
    with FakeOpenAI([json_response(detail, status=500)]) as server:
        caught = failure(client, server, SYNC)
    assert (caught.kind, caught.has_envelope) == (ErrorKind.SERVER, True)
    assert caught.message == "Input should be 'text' or 'json_object'"


def test_stream_cut_mid_answer_is_transport(client: httpx.Client) -> None:
    with FakeOpenAI([sse_response([chunk("Once upon"), chunk(" a")], done=False)]) as server:
        caught = failure(client, server, STREAM)
    assert (caught.kind, caught.message) == (ErrorKind.TRANSPORT, "stream ended mid-answer (no finish reason, no [DONE])")


def test_dropped_connections_are_real_transport_failures(client: httpx.Client) -> None:
    """DROP mid-body leaves the chunked body unfinished; DROP as the answer sends nothing at all."""
    with FakeOpenAI([sse_response([chunk("Once upon"), Pause(0.05), DROP]), DROP]) as server:
        with pytest.raises(httpx.TransportError):
            exchange(client, server, STREAM)
        with pytest.raises(httpx.TransportError):
            exchange(client, server, SYNC)
    assert len(server.requests) == 2


def test_stream_closed_without_any_event_is_malformed_not_transport(client: httpx.Client) -> None:
    # llama.cpp's server sends 200, then fails inside its generator and ends the body cleanly.
    with FakeOpenAI([sse_response([], done=False)]) as server:
        assert failure(client, server, STREAM).kind is ErrorKind.MALFORMED


def test_stream_ended_after_data_without_done_is_transport(client: httpx.Client) -> None:
    with FakeOpenAI([sse_response([chunk("Hel")], done=False)]) as server:
        assert failure(client, server, STREAM).kind is ErrorKind.TRANSPORT
