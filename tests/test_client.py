"""ProviderClient: what goes on the wire besides the dialect's body, and how failures are retried."""

from __future__ import annotations

import asyncio

import httpx

from fake_openai import FakeOpenAI, completion, json_response
from llmprobe.client import ProviderClient
from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.errors import UnsupportedOption
from llmprobe.neutral import Message, Request


def generate(server: FakeOpenAI, request: Request, **client_options):
    async def go():
        async with httpx.AsyncHTTPTransport() as transport:
            client = ProviderClient(OpenAIDialect(server.base_url), transport, api_key="sk-test", **client_options)
            return await client.generate("fake-model", request, name="t/fake/sync-Text")

    return asyncio.run(go())


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
