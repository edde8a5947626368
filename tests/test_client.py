"""ProviderClient: what goes on the wire besides the dialect's body, and how failures are retried."""

from __future__ import annotations

import asyncio

import httpx
from fake_openai import FakeOpenAI, completion, json_response

from llmprobe.client import ProviderClient
from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.neutral import Message, Request


def generate(server: FakeOpenAI, request: Request, **client_options):
    async def go():
        async with httpx.AsyncClient() as http:
            client = ProviderClient(OpenAIDialect(server.base_url), http, api_key="sk-test", **client_options)
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
