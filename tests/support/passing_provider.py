"""A fake OpenAI-compatible provider whose every model passes every probe, at a fixed latency.

Shared by tests/test_concurrency.py and benchmarks/probe_bench.py: the answers are
a pure function of the request, so verdicts cannot depend on the order or
timing of requests, and any difference between two runs is llmprobe's doing.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from llmprobe.config import ModelConfig, ProviderConfig
from llmprobe.results import ModelResult
from support.fake_openai import Canned, FakeOpenAI, RecordedRequest, Scripted, chunk, json_response, sse_response

#: Groq's headers, with a token budget the battery never meets: the runs on this provider are about
#: verdicts and concurrency, and pacing has tests of its own (test_rate_limits, test_resilience).
RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "14400",
    "x-ratelimit-remaining-requests": "14399",
    "x-ratelimit-reset-requests": "6s",
    "x-ratelimit-limit-tokens": "6000000",
    "x-ratelimit-remaining-tokens": "5999990",
    "x-ratelimit-reset-tokens": "100ms",
}
USAGE = {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
SQUARE_ROOT_RESULT = "363.89"
TOP_LOGPROBS = [{"token": "Hello", "logprob": -0.01}, {"token": "Hi", "logprob": -4.6}]
LOGPROBS = {"content": [{"token": "Hello", "logprob": -0.01, "top_logprobs": TOP_LOGPROBS}]}

#: What every mode of every model of this provider must score.
EXPECTED_VERDICTS = {
    "json": "true",
    "jsonSchema": "true",
    "tools": "true",
    "toolCallRequired": "true",
    # Each ToolBias probe gets the country offered last: never the "biased" first pick.
    "toolsBiased": "false",
    "toolsIndecisive": "false",
    "webSearch": "true",
    "seed": "true",
    "topLogprobs": "true",
    "maxTokens": "true",
    "stopSequence": "true",
    "citations": "false",
    "reportRateLimits": "true",
    "reportTokenUsage": "true",
    "reportFinishReason": "true",
    "toolAccuracy": "true",
    "jsonSchemaStrict": "true",
}
#: A valid call for each tool of the accuracy suite that must be called.
ACCURATE_CALLS = {
    "place_order": {
        "items": [{"sku": "BK-1042", "quantity": 2}, {"sku": "MG-7", "quantity": 1}],
        "shipping": {"speed": "express", "address": {"street": "12 Rue Cler", "city": "Paris", "postcode": "75007", "country": "France"}},
    },
    "get_weather": {"city": "Lyon", "unit": "celsius"},
}


@dataclasses.dataclass(frozen=True)
class Answer:
    """The model's part of a reply, before it is put on the wire as JSON or as SSE."""

    text: str = ""
    finish_reason: str = "stop"
    tool_call: tuple[str, dict[str, Any]] | None = None
    logprobs: dict | None = None
    #: The URL citations of a web search (annotations of the message, or of the streamed delta).
    annotations: tuple[dict, ...] = ()


def answer_for(body: dict) -> Answer:
    """A correct answer to whichever probe `body` is."""
    tools = [t["function"]["name"] for t in body.get("tools", [])]
    if "square_root" in tools:
        if any(m["role"] == "tool" for m in body["messages"]):
            return Answer(SQUARE_ROOT_RESULT)
        return Answer(finish_reason="tool_calls", tool_call=("square_root", {"number": 132413}))
    if "best_country" in tools:
        offered = body["tools"][0]["function"]["parameters"]["properties"]["country"]["enum"]
        return Answer(finish_reason="tool_calls", tool_call=("best_country", {"country": offered[-1]}))
    if "delete_account" in tools:
        return Answer("Paris.")
    wanted = [name for name in tools if name in ACCURATE_CALLS]
    if wanted:
        return Answer(finish_reason="tool_calls", tool_call=(wanted[0], ACCURATE_CALLS[wanted[0]]))
    if "web_search_options" in body:
        cited = {"type": "url_citation", "url_citation": {"url": "https://www.pm.gc.ca/en", "title": "Prime Minister"}}
        return Answer("Mark Carney", annotations=(cited,))
    if "response_format" in body:
        strict = "colour" in json.dumps(body["response_format"])
        return Answer('{"fruit": "banana", "colour": "yellow", "ripe": true}' if strict else '{"is_fruit": true}')
    if "max_completion_tokens" in body or "max_tokens" in body:
        return Answer("The theory of relativity, proposed by Albert Einstein, comprises two", "length")
    if "stop" in body:
        return Answer("Canada")
    content = body["messages"][0]["content"]
    parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
    if any(p["type"] == "image_url" for p in parts):
        return Answer("Banana.")
    # The other media: the word the recording says (audio), shows (video) or holds (PDF).
    if any(p["type"] in ("input_audio", "file") for p in parts):
        said = [p for p in parts if p["type"] == "file" and p["file"].get("file_data", "").startswith("data:video/")]
        return Answer("Banana." if said else "Orange.")
    if any("Quackiland" in p.get("text", "") for p in parts):
        return Answer("Quack.")
    return Answer("Hello.", logprobs=LOGPROBS if body.get("logprobs") else None)


def wire_answer(body: dict, latency: float) -> Canned:
    """`answer_for(body)` as OpenAI sends it, sync or streamed, after `latency` seconds."""
    answer = answer_for(body)
    calls = []
    if answer.tool_call is not None:
        name, arguments = answer.tool_call
        calls = [{"index": 0, "id": "call_0", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        if answer.annotations:
            message["annotations"] = list(answer.annotations)
        choice = {"index": 0, "message": message, "logprobs": answer.logprobs, "finish_reason": answer.finish_reason}
        payload = {"id": "chatcmpl-pass", "object": "chat.completion", "choices": [choice], "usage": USAGE}
        canned = json_response(payload, headers=RATE_LIMIT_HEADERS)
    else:
        delta: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if calls:
            delta["tool_calls"] = calls
        if answer.annotations:
            delta["annotations"] = list(answer.annotations)
        choice = {"index": 0, "delta": delta, "logprobs": answer.logprobs, "finish_reason": None}
        first = {"id": "chatcmpl-pass", "object": "chat.completion.chunk", "choices": [choice]}
        events = [first, chunk(finish_reason=answer.finish_reason), chunk(usage=USAGE)]
        canned = sse_response(events, headers=RATE_LIMIT_HEADERS)
    return dataclasses.replace(canned, delay=latency)


class PassingProvider(FakeOpenAI):
    """FakeOpenAI answering every probe correctly, counting the requests it holds at once.

    A request counts from its arrival until its status line is sent. The client
    cannot be done with it before that, so `peak_in_flight` never overstates how
    many requests the client had in flight; and since the answer waits `latency`
    before that point, requests that overlap on the client overlap here too.
    """

    def __init__(self, latency: float) -> None:
        super().__init__(self._scripted)
        self.latency = latency
        self.in_flight = 0
        self.peak_in_flight = 0
        self._gauge = threading.Lock()
        self._server.RequestHandlerClass = _answered_hook(self._server.RequestHandlerClass, self._answered)
        # socketserver listens with a backlog of 5: the 6th of a burst of new connections has
        # its SYN dropped and retried a second later, a stall that is the fake's, not the client's.
        self._server.socket.listen(128)

    def _scripted(self, request: RecordedRequest) -> Scripted:
        with self._gauge:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return wire_answer(request.json, self.latency)

    def _answered(self) -> None:
        with self._gauge:
            self.in_flight -= 1


def _answered_hook(handler: type, answered: Callable[[], None]) -> type:
    class Handler(handler):  # type: ignore[misc,valid-type]
        # Headers, body and each SSE chunk are separate writes: with Nagle's algorithm each
        # one after the first waits for the client's delayed ACK, adding ~40 ms per answer.
        disable_nagle_algorithm = True

        def send_response(self, code: int, message: str | None = None) -> None:
            answered()
            super().send_response(code, message)

    return Handler


def passing_provider_config(base_url: str, models: int, *, name: str = "fake") -> ProviderConfig:
    """A provider of `models` models at `base_url`, no key, no retries, image URL variants on."""
    return ProviderConfig(
        name=name,
        api="openai",
        base_url=base_url,
        country="US",
        models=tuple(ModelConfig(id=f"fake/model-{i:02d}") for i in range(models)),
        max_retries=0,
        # Never fetched: the fake answers an image URL without looking at it.
        image_base_url="https://images.invalid/probes",
    )


def verdicts_by_model(models: Sequence[ModelResult]) -> dict[tuple[str, str], dict[str, str]]:
    """(model id, mode) → verdicts, from a ProviderResult's models."""
    return {(m.id, mode): r.verdicts for m in models for mode, r in m.modes.items()}
