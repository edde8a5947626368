"""ProviderClient: what goes on the wire besides the dialect's body, and how failures are retried."""

from __future__ import annotations

import asyncio

import httpx

from llmprobe import __version__
from llmprobe.client import ProviderClient
from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.errors import UnsupportedOption
from llmprobe.neutral import Exchange, Message, Request
from support.fake_openai import FakeOpenAI, completion, json_response


def generate_all(server: FakeOpenAI, requests: list[Request], **client_options) -> list[Exchange]:
    """`requests` one after another through one client, as a run sends them."""

    async def go():
        async with httpx.AsyncHTTPTransport() as transport:
            client = ProviderClient(OpenAIDialect(server.base_url), transport, api_key="sk-test", **client_options)
            return [await client.generate("fake-model", request, name="t/fake/sync-Text") for request in requests]

    return asyncio.run(go())


def generate(server: FakeOpenAI, request: Request, **client_options) -> Exchange:
    (exchange,) = generate_all(server, [request], **client_options)
    return exchange


def test_extra_body_is_sent_and_probe_options_win():
    with FakeOpenAI([json_response(completion("Hi"))]) as server:
        exchange = generate(
            server, Request((Message.user("Hi"),), seed=42), extra_body={"temperature": 0, "seed": 7}
        )
    assert exchange.ok
    sent = server.requests[0].json
    assert sent["temperature"] == 0
    assert sent["seed"] == 42


def test_options_declared_unsupported_are_never_sent():
    with FakeOpenAI([json_response(completion("Hi"))]) as server:
        refused = generate(server, Request((Message.user("Hi"),), seed=42), unsupported=("seed", "json_schema"))
        plain = generate(server, Request((Message.user("Hi"),)), unsupported=("seed", "json_schema"))
        sent = [request.json for request in server.requests]
    assert isinstance(refused.error, UnsupportedOption) and refused.error.option == "seed"
    assert "providers.yaml `unsupported`" in str(refused.error)
    assert plain.ok and len(sent) == 1 and "seed" not in sent[0]


HI = Request((Message.user("Hi"),))


def test_a_cookie_one_reply_sets_is_not_sent_with_the_next_request():
    """Every probe stands on its own: a provider's session cookie must not tie one to the next."""
    set_cookie = json_response(completion("Hi"), headers={"Set-Cookie": "session=s3cr3t; Path=/"})
    with FakeOpenAI([set_cookie, json_response(completion("Hi"))]) as server:
        exchanges = generate_all(server, [HI, HI])
    assert all(exchange.ok for exchange in exchanges)
    assert [request.headers.get("cookie") for request in server.requests] == [None, None]


def test_every_request_names_llmprobe_and_the_encodings_it_can_decode():
    with FakeOpenAI([json_response(completion("Hi"))]) as server:
        assert generate(server, HI).ok
    headers = server.requests[0].headers
    assert headers["user-agent"] == f"llmprobe/{__version__}"
    assert headers["accept-encoding"] == "gzip, deflate"
    assert headers["authorization"] == "Bearer sk-test"


def test_the_timeouts_of_each_step_reach_the_transport_for_probes_and_model_lists():
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        payload = completion("Hi") if request.method == "POST" else {"data": [{"id": "m"}]}
        return httpx.Response(200, json=payload)

    async def go() -> tuple[Exchange, list[str]]:
        timeouts = httpx.Timeout(30.0, connect=10.0)
        client = ProviderClient(OpenAIDialect("http://fake.invalid/v1"), httpx.MockTransport(answer), phase_timeouts=timeouts)
        return await client.generate("m", HI), await client.list_models()

    exchange, models = asyncio.run(go())
    assert exchange.ok and models == ["m"]
    assert seen == [{"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}] * 2
