"""The dialect registry: a new wire format is one module plus one registry line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from llmprobe.battery import load_battery
from llmprobe.client import ProviderClient
from llmprobe.config import load_config
from llmprobe.dialects import DIALECTS, dialect_class, get_dialect
from llmprobe.errors import ApiError, ConfigError, ErrorKind
from llmprobe.retries import RetryPolicy
from llmprobe.runner import ModelProber
from llmprobe.sse import SseEvent
from support.configs import write_providers


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one registry line a new dialect needs.
    monkeypatch.setitem(DIALECTS, "toy", "support.toy_dialect:ToyDialect")


def toy_config(tmp_path: Path, options: dict) -> Path:
    provider = {"api": "toy", "base_url": "http://toy.invalid/v0", "api_key_env": "TOY_KEY", "options": options}
    return write_providers(tmp_path, {"toy": {**provider, "models": ["toy-1"]}})


def toy_server(seen: list[httpx.Request]) -> httpx.MockTransport:
    """Answers every prompt with a greeting; streams it as NDJSON when asked to."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        finish = "length" if "limit" in body else "stop"
        headers = {"toy-remaining": "42"}
        if not body["stream"]:
            return httpx.Response(200, json={"text": "Hello.", "finish": finish, "tokens": [5, 2]}, headers=headers)
        lines = [{"delta": "Hel"}, {"delta": "lo."}, {"finish": finish, "tokens": [5, 2]}]
        return httpx.Response(200, content="".join(json.dumps(line) + "\n" for line in lines), headers=headers)

    return httpx.MockTransport(answer)


def test_a_toy_dialect_probes_a_model_in_both_modes(toy_registered: None, tmp_path: Path) -> None:
    provider = load_config(toy_config(tmp_path, {"shout": True})).providers["toy"]
    assert provider.options == {"shout": True}
    seen: list[httpx.Request] = []

    async def probe() -> dict[str, dict[str, str]]:
        dialect = get_dialect(provider.api, provider.base_url, provider.options)
        client = ProviderClient(dialect, toy_server(seen), api_key="toy-secret", retry=RetryPolicy(wait=False))
        prober = ModelProber(client, load_battery(), provider.name, provider.models[0])
        result = await prober.probe(("sync", "stream"))
        return {mode: run.verdicts for mode, run in result.modes.items()}

    verdicts = asyncio.run(probe())
    for mode in ("sync", "stream"):
        assert verdicts[mode]["reportRateLimits"] == "true"
        assert verdicts[mode]["reportTokenUsage"] == "true"
        assert verdicts[mode]["maxTokens"] == "true"
        # Options the toy wire cannot carry were never sent: they cannot be asked, which says nothing of the model.
        assert verdicts[mode]["seed"] == verdicts[mode]["jsonSchema"] == verdicts[mode]["tools"] == "inexpressible"
    assert seen, "the toy server was asked"
    assert all(r.url.path == "/v0/generate" and r.headers["toy-key"] == "toy-secret" for r in seen)
    assert all(json.loads(r.content)["prompt"].isupper() for r in seen)
    assert {json.loads(r.content)["stream"] for r in seen} == {True, False}


def test_a_dialects_options_are_checked_by_the_dialect(toy_registered: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as failure:
        load_config(toy_config(tmp_path, {"shout": "loudly"}))
    assert str(failure.value).endswith("providers.toy.options.shout: expected true or false, got a string")


def test_every_registered_dialect_declares_what_the_registry_needs() -> None:
    for api in DIALECTS:
        cls = dialect_class(api)
        assert cls.name == api
        assert cls.STREAM_FRAMING in ("sse", "ndjson")
        assert cls.RATE_LIMIT_SCOPE in ("model", "provider")
        assert all(option.default is not None for option in cls.OPTIONS.values())


#: Nested deeper than any decoder recurses; its id stands for it (the bytes would be a 200 KB test id).
DEEP = pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000-deep")


@pytest.mark.parametrize("api", sorted(DIALECTS))
@pytest.mark.parametrize("body", [b"<html>captive portal</html>", b'{"a": NaN}', DEEP])
def test_a_200_that_is_no_json_is_unreadable_in_every_dialect(api: str, body: bytes) -> None:
    """One decoder for every wire (`dialects.wire`): nothing can be judged from such a body."""
    dialect = get_dialect(api, "http://127.0.0.1:1/v1")
    with pytest.raises(ApiError) as raised:
        dialect.parse(200, {}, body)
    assert raised.value.kind is ErrorKind.UNREADABLE
    parser = dialect.stream_parser()
    with pytest.raises(ApiError) as raised:
        parser.feed(SseEvent(body.decode()))
        parser.finish()
    assert raised.value.kind is ErrorKind.UNREADABLE


@pytest.mark.parametrize("api", sorted(DIALECTS))
@pytest.mark.parametrize("body", [b'{"error": {"message": NaN}, "message": NaN}', DEEP])
def test_a_failed_answer_that_is_no_json_is_quoted_in_every_dialect(api: str, body: bytes) -> None:
    """The same decoder reads error bodies (`wire.error_body`): a body too deep to decode is the
    page quoted, never a crash, and NaN is no envelope."""
    dialect = get_dialect(api, "http://127.0.0.1:1/v1")
    for read in (dialect.parse, dialect.parse_models):
        with pytest.raises(ApiError) as raised:
            read(500, {}, body)
        assert raised.value.kind is ErrorKind.SERVER and not raised.value.has_envelope
