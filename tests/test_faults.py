"""Real networks fail: a verdict must never say "unsupported" because the network hiccupped.

A fault-injecting fake provider (127.0.0.1, bounded: one fault per distinct request)
answers the first attempt of every request with a fault — 429 with Retry-After: 0,
a bare 500, a 503 HTML page, a dropped connection, or an answer cut half-way — and
the retry correctly. Half of all requests fail, and the verdicts must still be
exactly those of the fault-free run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

from llmprobe.battery import load_battery
from llmprobe.client import ProviderClient
from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.retries import RetryPolicy
from llmprobe.runner import ProviderRun
from support.clock import FakeClock
from support.fake_openai import DROP, Canned, FakeOpenAI, RecordedRequest, Scripted
from support.passing_provider import EXPECTED_VERDICTS, passing_provider_config, verdicts_by_model, wire_answer

FAULTS = ("429", "500", "503-html", "drop", "cut")


def fault(kind: str, answer: Canned) -> Scripted:
    if kind == "429":
        # No wait asked: a fifth of all requests refused whatever the pace teaches the key a slow rate
        # (tests/test_rate_limits.py); here only the verdicts are at stake.
        return Canned(429, {"Retry-After": "0", "Content-Type": "application/json"}, b'{"error":{"message":"slow down"}}')
    if kind == "500":
        return Canned(500, {"Content-Type": "text/plain"}, b"Internal Server Error")
    if kind == "503-html":
        page = b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"
        return Canned(503, {"Content-Type": "text/html"}, page)
    if kind == "drop":
        return DROP
    # "cut": the real answer's first half, then the connection drops.
    body = answer.body if isinstance(answer.body, bytes) else "".join(
        s if isinstance(s, str) else s.decode() for s in answer.body if isinstance(s, (str, bytes))
    ).encode()
    return Canned(answer.status, answer.headers, (body[: len(body) // 2], DROP))


class FaultyProvider(FakeOpenAI):
    """Every distinct request fails once (or always, with `clears=False`) before it is answered."""

    def __init__(self, *, clears: bool = True, only: str | None = None) -> None:
        super().__init__(self._scripted)
        self.clears = clears
        self.only = only
        self.faults: Counter[str] = Counter()
        self._seen: set[str] = set()
        self._kinds = itertools.cycle(FAULTS)

    def _scripted(self, request: RecordedRequest) -> Scripted:
        """Called under FakeOpenAI's lock, one request at a time."""
        answer = wire_answer(request.json, 0.0)
        key = json.dumps(request.json, sort_keys=True)
        first = key not in self._seen
        self._seen.add(key)
        if (self.only is None or self.only in key) and (first or not self.clears):
            kind = next(self._kinds)
            self.faults[kind] += 1
            return fault(kind, answer)
        return answer


def run(server: FakeOpenAI, max_retries: int = 2):
    provider = passing_provider_config(server.base_url, 1)

    # The waits keep the policy's shape (backoff, the 429's hold of the key and the rate it teaches)
    # on a clock of their own, so the half of all requests that fail first cost no real seconds.
    clock = FakeClock()

    async def go():
        async with httpx.AsyncHTTPTransport() as transport:
            client = ProviderClient(
                OpenAIDialect(server.base_url),
                transport,
                retry=RetryPolicy(max_retries=max_retries),
                clock=clock,
                sleep=clock.sleep,
                phase_timeouts=httpx.Timeout(10),
            )
            return await ProviderRun(
                provider, list(provider.models), ("sync", "stream"), client, load_battery(), Path(server.out) / "fake.json"
            ).run()

    return asyncio.run(go())


@pytest.fixture
def out(tmp_path):
    return tmp_path


def test_faults_that_clear_change_no_verdict(out):
    with FaultyProvider() as server:
        server.out = out
        result = run(server)
    verdicts = verdicts_by_model(result.models)
    assert verdicts == {("fake/model-00", "sync"): EXPECTED_VERDICTS, ("fake/model-00", "stream"): EXPECTED_VERDICTS}
    assert set(server.faults) == set(FAULTS)
    assert sum(server.faults.values()) >= 40
    # The evidence shows every retry, and why it was needed.
    probes = [e for mode in result.models[0].modes.values() for e in mode.probes]
    # Every request sent, that is: the media by URL the dialect has no part for are never sent.
    refused = [e for e in probes if e.reason.startswith("unsupported option")]
    assert {e.probe for e in refused} <= {p.name for p in load_battery().media if p.way == "URL"}
    assert all(e.attempts == 2 for e in probes if e not in refused)
    reasons = " ".join(e.reason for e in probes)
    assert "after 1 retry: HTTP 429" in reasons
    assert "503 Service Temporarily Unavailable" in reasons
    assert "<html>" not in reasons


def test_faults_that_never_clear_are_unknown_never_false(out):
    with FaultyProvider(clears=False) as server:
        server.out = out
        result = run(server, max_retries=1)
    for mode in result.models[0].modes.values():
        assert set(mode.verdicts.values()) == {"unknown"}
        # Text, and SquareRoot-1 which went out beside it; nothing after the gate failed.
        assert [(e.probe, e.outcome) for e in mode.probes] == [("Text", "error"), ("Tools-SquareRoot-1", "error")]


def test_a_feature_whose_requests_always_fail_is_unknown_and_the_rest_measured(out):
    with FaultyProvider(clears=False, only='"response_format": {"type": "json_object"}') as server:
        server.out = out
        result = run(server, max_retries=1)
    for mode in result.models[0].modes.values():
        assert mode.verdicts == {**EXPECTED_VERDICTS, "json": "unknown"}
