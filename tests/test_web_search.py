"""Web search (the WebSearch probe, `webSearch`, 🕸️): each dialect's search field, the reply that shows
a search ran, the verdict, the question it asks in replay, and the Tool cell.

Fakes cover each dialect three ways (a reply showing the search, a 400 refusing it, a reply that
does not show it); the recordings show the real shapes (docs/methodology.md, D27).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conftest import FIXTURES
from llmprobe import verdicts as v
from llmprobe.battery import load_battery
from llmprobe.cassettes import load_cassette
from llmprobe.dialects import get_dialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.neutral import Exchange, Message, Reply, Request
from llmprobe.questions import difference, question
from llmprobe.render import cells, legend
from llmprobe.results import Verdict
from support import replaying
from test_verdicts import failed, good_mode, reply, unsupported

BATTERY = load_battery()
PROBE = BATTERY.probes["Tools-WebSearch"]
ASKED = Request(messages=(Message.user("Who is the Prime Minister of Canada?"),), web_search=True)
PLAIN = Request(messages=(Message.user("Who is the Prime Minister of Canada?"),))


def verdict(exchange: Exchange | None) -> str:
    obs = good_mode() if exchange is None else good_mode(**{PROBE.name: exchange})
    if exchange is None:
        del obs[PROBE.name]
    return v.mode_verdicts(obs, BATTERY)["webSearch"]


# --- the battery and the verdict -------------------------------------------------------------------


def test_the_probe_asks_for_search_with_the_references_prompt():
    request = PROBE.request(stream=False)
    assert request.web_search and not request.tools
    assert PROBE.prompt.startswith("Search the web to tell who is currently the Prime Minister of Canada.")
    assert PROBE.verdict == "webSearch"


@pytest.mark.parametrize(
    ("exchange", "expected"),
    [
        (reply("Mark Carney", web_search=["https://www.pm.gc.ca/en"]), "true"),
        # Answered from memory: nothing shows a search, whatever the answer.
        (reply("Mark Carney"), "false"),
        # OpenAI chat's "Web search options not supported with this model."
        (failed(ErrorKind.REJECTED, "Web search options not supported with this model."), "false"),
        (failed(ErrorKind.TRANSPORT, "connection reset"), "unknown"),
        (unsupported("web_search"), "inexpressible"),
        (None, "unknown"),
    ],
)
def test_web_search_verdict(exchange: Exchange | None, expected: str) -> None:
    assert verdict(exchange) == expected


def test_a_web_searchs_citations_are_not_the_documents():
    # The search cites the web; the Citations probes, answered without citations, decide citations.
    searched = reply("Mark Carney", citations=["https://www.pm.gc.ca/en"], web_search=["https://www.pm.gc.ca/en"])
    result = v.mode_verdicts(good_mode(**{PROBE.name: searched}), BATTERY)
    assert result["webSearch"] == "true"
    assert result["citations"] == "false"


# --- each dialect: sent, shown, refused ------------------------------------------------------------

#: A reply that shows a search, in each dialect's shape.
SEARCHED = {
    "anthropic": {
        "type": "message",
        "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "PM Canada"}},
            {
                "type": "web_search_tool_result",
                "tool_use_id": "srvtoolu_1",
                "content": [{"type": "web_search_result", "url": "https://www.pm.gc.ca/en", "title": "PM"}],
            },
            {"type": "text", "text": "Mark Carney"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 3, "server_tool_use": {"web_search_requests": 1}},
    },
    "gemini": {
        "candidates": [
            {
                "content": {"parts": [{"text": "Mark Carney"}], "role": "model"},
                "finishReason": "STOP",
                "groundingMetadata": {
                    "groundingChunks": [{"web": {"uri": "https://vertexaisearch.example/r/1", "title": "pm.gc.ca"}}],
                    "webSearchQueries": ["current Prime Minister of Canada"],
                },
            }
        ]
    },
    "openai": {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "Mark Carney",
                    "annotations": [{"type": "url_citation", "url_citation": {"url": "https://www.pm.gc.ca/en"}}],
                },
                "finish_reason": "stop",
            }
        ]
    },
    "openai-responses": {
        "status": "completed",
        "output": [
            {
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": "PM Canada", "sources": [{"type": "url", "url": "https://www.pm.gc.ca/en"}]},
            },
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Mark Carney", "annotations": []}]},
        ],
    },
}

#: The same answer without any sign of a search.
UNSEARCHED = {
    "anthropic": {"type": "message", "content": [{"type": "text", "text": "Justin Trudeau"}], "stop_reason": "end_turn"},
    "gemini": {"candidates": [{"content": {"parts": [{"text": "Justin Trudeau"}], "role": "model"}, "finishReason": "STOP"}]},
    "openai": {"choices": [{"message": {"role": "assistant", "content": "Justin Trudeau"}, "finish_reason": "stop"}]},
    "openai-responses": {
        "status": "completed",
        "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Justin Trudeau"}]}],
    },
}

REFUSAL = {
    "anthropic": {"type": "error", "error": {"type": "invalid_request_error", "message": "tools.0: web_search is not supported"}},
    "gemini": {"error": {"code": 400, "message": "Search Grounding is not supported.", "status": "INVALID_ARGUMENT"}},
    "openai": {"error": {"message": "Web search options not supported with this model.", "type": "invalid_request_error"}},
    "openai-responses": {"error": {"message": "Tool 'web_search' is not supported with gpt-x.", "type": "invalid_request_error"}},
}


def body(api: str, request: Request) -> dict:
    return get_dialect(api, "https://api.example").build("m", request).json


@pytest.mark.parametrize(
    ("api", "shown"),
    [
        ("anthropic", lambda b: {"type": "web_search_20250305", "name": "web_search"} in b["tools"]),
        ("gemini", lambda b: {"googleSearch": {}} in b["tools"]),
        ("openai", lambda b: b["web_search_options"] == {}),
        ("openai-responses", lambda b: {"type": "web_search"} in b["tools"] and "web_search_call.action.sources" in b["include"]),
    ],
)
def test_each_dialect_sends_its_search_tool_only_when_asked(api, shown) -> None:
    assert shown(body(api, ASKED))
    plain = json.dumps(body(api, PLAIN))
    assert "web_search" not in plain and "googleSearch" not in plain


@pytest.mark.parametrize("api", ["cohere", "ollama", "cloudflare"])
def test_build_refuses_web_search_where_the_wire_has_none(api: str) -> None:
    with pytest.raises(UnsupportedOption) as raised:
        get_dialect(api, "https://api.example").build("m", ASKED)
    assert raised.value.option == "web_search"
    get_dialect(api, "https://api.example").build("m", PLAIN)


@pytest.mark.parametrize("api", sorted(SEARCHED))
def test_a_reply_shows_the_search_or_not(api: str) -> None:
    dialect = get_dialect(api, "https://api.example")
    searched = dialect.parse(200, {}, json.dumps(SEARCHED[api]).encode())
    assert searched.web_search and searched.text == "Mark Carney"
    assert not dialect.parse(200, {}, json.dumps(UNSEARCHED[api]).encode()).web_search


@pytest.mark.parametrize("api", sorted(REFUSAL))
def test_a_refused_search_is_false(api: str) -> None:
    with pytest.raises(ApiError) as raised:
        get_dialect(api, "https://api.example").parse(400, {}, json.dumps(REFUSAL[api]).encode())
    assert raised.value.kind is ErrorKind.REJECTED
    assert verdict(Exchange(error=raised.value, status=400, attempts=1)) == "false"


def test_anthropic_without_results_shows_the_query() -> None:
    # A search whose results failed still ran: the query shows it.
    data = {
        "type": "message",
        "content": [{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {"query": "PM Canada"}}],
        "stop_reason": "end_turn",
    }
    assert get_dialect("anthropic", "https://a").parse(200, {}, json.dumps(data).encode()).web_search == ["PM Canada"]


# --- the recordings ---------------------------------------------------------------------------------


def recorded(provider: str) -> list[Path]:
    folder = next(p for p in FIXTURES.iterdir() if p.name.startswith(provider + "-"))
    return sorted(folder.glob("scoreboard-cassettes/*/Gen*-Tools-WebSearch.yaml"))


@pytest.mark.parametrize(("provider", "api"), [("anthropic", "anthropic"), ("gemini", "gemini"), ("openairesponses", "openai-responses")])
def test_every_recorded_search_shows(provider: str, api: str) -> None:
    paths = recorded(provider)
    assert {p.name.split("-")[0] for p in paths} == {"GenSync", "GenStream"}
    for path in paths:
        (item,) = load_cassette(path).interactions
        # Gemini says "stream" in the URL, not the body: the file name tells.
        stream = path.name.startswith("GenStream")
        dialect = get_dialect(api, "https://api.example")
        answer: Reply = replaying.read_answer(dialect, item.status, replaying.headers(item), item.response_body, stream)
        # Sources, or the queries alone (gemini-2.5-flash-lite's stream grounded on no chunk).
        assert answer.web_search and all(answer.web_search), path


def test_openai_chat_recordings_refuse_web_search_options() -> None:
    for path in recorded("openaichat"):
        (item,) = load_cassette(path).interactions
        with pytest.raises(ApiError) as raised:
            replaying.replay(get_dialect("openai", "https://api.example"), item)
        # "Web search options not supported with this model." or "Unknown parameter: 'web_search_options'."
        message = str(raised.value).lower()
        assert raised.value.kind is ErrorKind.REJECTED and ("web search" in message or "web_search_options" in message), path


@pytest.mark.parametrize(("provider", "api"), [("anthropic", "anthropic"), ("gemini", "gemini"), ("openairesponses", "openai-responses"), ("openaichat", "openai")])
def test_our_request_asks_the_recorded_question(provider: str, api: str) -> None:
    for path in recorded(provider):
        (item,) = load_cassette(path).interactions
        sent = json.loads(item.request_body)
        stream = path.name.startswith("GenStream")
        row = path.parent.name
        request = dataclasses.replace(PROBE.request(stream=stream), thinking=row.endswith("_thinking"))
        ours = get_dialect(api, "https://api.example").build(str(sent.get("model", "m")), request)
        model = row.removesuffix("_thinking")
        assert difference(question(api, ours.json, model=model, stream=stream), question(api, sent, model=model, stream=stream)) is None, path


# --- the question: web search on or off is another question -----------------------------------------


@pytest.mark.parametrize("api", ["anthropic", "gemini", "openai", "openai-responses"])
def test_web_search_on_or_off_is_another_question(api: str) -> None:
    on, off = question(api, body(api, ASKED), model="m"), question(api, body(api, PLAIN), model="m")
    assert on["web_search"] is True and "web_search" not in off
    assert difference(on, off) == "web_search is true, recorded null"
    # The search tool is not a function the model may call: no tool choice is implied.
    assert "tools" not in on and "tool_choice" not in on


# --- the Tool cell and the legend -------------------------------------------------------------------


def test_tool_cell_shows_the_search_after_the_forced_call() -> None:
    line = cells.Line(verdicts={"tools": Verdict.TRUE, "toolCallRequired": Verdict.TRUE, "webSearch": Verdict.TRUE})
    assert cells.tool_compact(line) == "✅🪨🕸️"
    assert cells.tool_detailed(line).startswith("✅🪨🕸️")
    assert cells.tool_compact(cells.Line(verdicts={"tools": Verdict.TRUE, "webSearch": Verdict.UNKNOWN})) == "✅"


@pytest.mark.parametrize("layout", ["detailed", "compact"])
def test_the_legend_explains_the_search(layout: str) -> None:
    assert any("🕸️" in text for entry in legend.entries(layout) for text in (entry.text, *entry.children))


# --- the evidence -------------------------------------------------------------------------------------


def test_the_evidence_names_what_shows_the_search() -> None:
    from llmprobe.runner import _describe

    searched = reply("Mark Carney", web_search=["https://www.pm.gc.ca/en", "https://en.wikipedia.org/wiki/Mark_Carney"])
    assert _describe(PROBE.name, searched) == "'Mark Carney', searched the web: https://www.pm.gc.ca/en (+1 more)"
    assert _describe(PROBE.name, reply("Justin Trudeau")) == "'Justin Trudeau'"
