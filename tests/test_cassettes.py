"""Record against a local server, replay with none, and read the reference's cassettes."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import gzip
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import FIXTURES
from llmprobe import cassettes
from llmprobe.cassettes import (
    CASSETTE_EXTENSION,
    Cassette,
    Interaction,
    append_interaction,
    body_bytes,
    load_cassette,
    save_cassette,
)
from llmprobe.errors import ApiError, CassetteError, ErrorKind
from llmprobe.recording import RecordingTransport
from llmprobe.redaction import Redactor
from llmprobe.replay import ReplayTransport
from support.fake_openai import DROP, Canned, FakeOpenAI, Pause, RecordedRequest, Scripted, Wait, json_response

KEY = "sk-test-SECRETSECRETSECRET1234567890"
ACCOUNT = "0123456789abcdef0123456789abcdef"
SSE_CHUNKS = [b'data: {"n":1}\n\n', b'data: {"n":2}\n\n', b"data: [DONE]\n\n"]
SSE = {"Content-Type": "text/event-stream"}


class _Provider:
    """A provider on 127.0.0.1 (tests/support/fake_openai.py) answering by route, as the cassette tests need."""

    def __init__(self) -> None:
        self.posts = 0
        #: Set by the client when it has the first chunk of /stream; the last chunk waits for it.
        self.first_chunk_seen = threading.Event()
        #: Set by the client once it has walked away from /abandon.
        self.client_closed = threading.Event()
        self.fake = FakeOpenAI(self._answer)

    @property
    def base(self) -> str:
        return self.fake.base_url.removesuffix("/v1") + f"/client/v4/accounts/{ACCOUNT}/ai"

    def _answer(self, request: RecordedRequest) -> Scripted:
        if request.method == "GET":
            # Compressed, as real providers answer: the cassette must hold the decoded text.
            body = gzip.compress(json.dumps({"models": ["m1"]}).encode())
            return Canned(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body)
        route = request.path.split("?")[0].rsplit("/", 1)[-1]
        if route == "stream":
            # The last chunk waits until the client has the first one: a recorder that
            # buffered the body would make this wait time out.
            first, second, last = SSE_CHUNKS
            return Canned(200, SSE, (first, Pause(0.02), second, Pause(0.02), Wait(self.first_chunk_seen, 5), last))
        if route == "broken":
            return Canned(200, SSE, (SSE_CHUNKS[0], DROP))  # cut off without the terminating chunk
        if route == "abandon":
            return Canned(200, SSE, (SSE_CHUNKS[0], Wait(self.client_closed, 5), SSE_CHUNKS[1], DROP))
        self.posts += 1
        status = 503 if route == "retry" and self.posts == 1 else 200
        authorization = request.headers.get("authorization")
        headers = {
            "Set-Cookie": f"session={KEY}",
            "X-Request-Id": "req_123",
            "Cf-Ray": "962e9eb6ef37a2a8-YUL",
            "x-echo": str(authorization),
        }
        return json_response({"echo": authorization, "sent": request.json, "n": self.posts}, status, headers)


@pytest.fixture
def server() -> Iterator[_Provider]:
    provider = _Provider()
    with provider.fake:
        yield provider


def _redactor() -> Redactor:
    return Redactor(secrets=[KEY, ""], replacements={ACCOUNT: "ACCOUNT_ID"})


def _recording(directory: Path) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=RecordingTransport(httpx.AsyncHTTPTransport(), directory, _redactor()))


def _replaying(directory: Path) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=ReplayTransport(directory, _redactor(), "cloudflare"))


def _named(name: str) -> dict:
    return {CASSETTE_EXTENSION: name}


def _stored_view(response: httpx.Response) -> dict[str, str]:
    """The live headers as a cassette keeps them: volatile ones gone, secrets redacted."""
    headers = {k: v.replace(KEY, "REDACTED") for k, v in response.headers.items()}
    for volatile in ("date", "set-cookie", "x-request-id", "content-encoding"):
        headers.pop(volatile, None)
    return headers


async def _exchange(client: httpx.AsyncClient, base: str, on_first_chunk: threading.Event | None) -> list:
    """One sync post, one stream, one unnamed GET; what the caller saw of each."""
    sync = await client.post(
        f"{base}/run/sync?key={KEY}",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"api_key": KEY, "messages": [{"role": "user", "content": "hi"}]},
        extensions=_named("cloudflare/@cf/meta/llama-3.1-8b/sync-Text"),
    )
    chunks = []
    async with client.stream(
        "POST", f"{base}/run/stream", json={"stream": True}, extensions=_named("cloudflare/@cf/meta/llama-3.1-8b/stream-Text")
    ) as stream:
        async for chunk in stream.aiter_bytes():
            if on_first_chunk:
                on_first_chunk.set()
            chunks.append(chunk)
    listing = await client.get(f"{base}/models/search")
    return [sync, sync.content, stream, chunks, listing, listing.content]


def test_record_then_replay_offline(server: _Provider, tmp_path: Path) -> None:
    async def run() -> tuple[list, list]:
        async with _recording(tmp_path) as client:
            live = await _exchange(client, server.base, server.first_chunk_seen)
        server.fake.__exit__(None, None, None)  # no server from here on
        async with _replaying(tmp_path) as client:
            return live, await _exchange(client, server.base, None)

    live, replayed = asyncio.run(run())
    sync, sync_body, stream, chunks, listing, listing_body = live
    r_sync, r_sync_body, r_stream, r_chunks, r_listing, r_listing_body = replayed

    assert server.fake.waited == [True], "the client did not see the first chunk before the last was sent"
    assert len(chunks) >= 2, "the stream arrived in one piece"

    assert r_sync.status_code == sync.status_code == 200
    assert r_sync_body == sync_body.replace(KEY.encode(), b"REDACTED")
    expected = _stored_view(sync) | {"content-length": str(len(r_sync_body))}
    assert dict(r_sync.headers) == expected

    assert r_stream.status_code == 200
    assert b"".join(r_chunks) == b"".join(chunks) == b"".join(SSE_CHUNKS)
    assert dict(r_stream.headers) == _stored_view(stream)

    assert json.loads(r_listing_body) == json.loads(listing_body) == {"models": ["m1"]}
    assert dict(r_listing.headers) == _stored_view(listing) | {"content-length": str(len(r_listing_body))}

    stored = load_cassette(tmp_path / "cloudflare/@cf/meta/llama-3.1-8b/stream-Text.yaml").interactions[0]
    assert stored.response_body == b"".join(SSE_CHUNKS).decode()
    assert "data: [DONE]\n" in (tmp_path / "cloudflare/@cf/meta/llama-3.1-8b/stream-Text.yaml").read_text()


def test_secrets_never_reach_disk(server: _Provider, tmp_path: Path) -> None:
    async def run() -> None:
        async with _recording(tmp_path) as client:
            await _exchange(client, server.base, server.first_chunk_seen)

    asyncio.run(run())
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 3
    for path in files:
        data = path.read_bytes() + str(path).encode()
        assert KEY.encode() not in data, path
        assert ACCOUNT.encode() not in data, path
    sync = load_cassette(tmp_path / "cloudflare/@cf/meta/llama-3.1-8b/sync-Text.yaml").interactions[0]
    assert sync.url.endswith("/client/v4/accounts/ACCOUNT_ID/ai/run/sync?key=REDACTED")
    assert "Authorization" not in sync.request_headers
    assert json.loads(sync.request_body)["api_key"] == "REDACTED"
    assert json.loads(sync.response_body)["echo"] == "Bearer REDACTED"
    assert sync.response_headers["X-Echo"] == ["Bearer REDACTED"]
    assert sync.response_headers["Cf-Ray"] == ["962e9eb6ef37a2a8-YUL"]
    assert not {"Set-Cookie", "Date", "X-Request-Id"} & set(sync.response_headers)
    assert (tmp_path / "GET-client-v4-accounts-ACCOUNT_ID-ai-models-search.yaml").is_file()


def test_redactor_drops_credential_headers() -> None:
    headers = httpx.Headers(
        {"Authorization": "x", "X-Api-Key": "x", "api-key": "x", "Cookie": "x", "Proxy-Authorization": "x",
         "X-Goog-Api-Key": "x", "x-amz-security-token": "x", "Client-Secret": "x", "content-type": "text/plain"}
    )
    assert Redactor().request_headers(headers) == {"Content-Type": ["text/plain"]}


def test_redactor_ignores_empty_strings_and_replaces_encoded_secrets() -> None:
    redactor = Redactor(secrets=["", "a+b/c"], replacements={"": "X"})
    assert redactor.text("k=a%2Bb%2Fc&j=a+b/c&i=a%2Bb/c") == "k=REDACTED&j=REDACTED&i=a%2Bb/c"
    assert Redactor().text("unchanged") == "unchanged"


def test_missing_recording_is_not_recorded(tmp_path: Path) -> None:
    async def run() -> None:
        async with _replaying(tmp_path) as client:
            await client.post("https://api.groq.com/openai/v1/chat/completions", json={}, extensions=_named("groq/m/sync-Text"))

    with pytest.raises(ApiError) as caught:
        asyncio.run(run())
    path = tmp_path / "groq/m/sync-Text.yaml"
    assert (caught.value.kind, caught.value.retryable) == (ErrorKind.NOT_RECORDED, False)
    assert str(caught.value) == f"not_recorded: groq/m/sync-Text: {path} does not exist"


def test_a_replay_directory_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no recordings to replay: .* does not exist"):
        _replaying(tmp_path / "absent")


def _planted(tmp_path: Path, name: str, *interactions: Interaction) -> None:
    save_cassette(Cassette(tmp_path / f"{name}.yaml", list(interactions)))


def _interaction(body: str, answer: str = '{"ok":true}', status: int = 200) -> Interaction:
    return Interaction(
        method="POST",
        url="https://api.cloudflare.com/client/v4/accounts/ACCOUNT_ID/ai/run/m?key=REDACTED",
        request_body=body,
        request_headers={},
        status=status,
        response_headers={"Content-Type": ["application/json"]},
        response_body=answer,
    )


async def _post(client: httpx.AsyncClient, body: dict, *, method: str = "POST", path: str = "run/m") -> httpx.Response:
    url = f"https://api.cloudflare.com/client/v4/accounts/{ACCOUNT}/ai/{path}?key={KEY}"
    return await client.request(method, url, json=body, extensions=_named("cf/m/sync-Text"))


def test_another_question_names_the_file_and_the_field(tmp_path: Path) -> None:
    _planted(tmp_path, "cf/m/sync-Text", _interaction('{"messages":[{"role":"user","content":"hi"}],"seed":42}'))

    async def run() -> None:
        async with _replaying(tmp_path) as client:
            await _post(client, {"messages": [{"role": "user", "content": "hi"}], "seed": 7})

    with pytest.raises(ApiError) as caught:
        asyncio.run(run())
    assert str(caught.value) == (
        f"not_recorded: request #1 of cf/m/sync-Text asks another question than {tmp_path / 'cf/m/sync-Text.yaml'}: "
        "seed is 7, recorded 42"
    )


def test_the_same_question_reworded_is_answered(tmp_path: Path) -> None:
    """The rule compares the question, not the wording (`llmprobe.questions`)."""
    _planted(tmp_path, "cf/m/sync-Text", _interaction('{"messages":[{"role":"user","content":"hi"}],"seed":42}'))

    async def run() -> httpx.Response:
        async with _replaying(tmp_path) as client:
            return await _post(client, {"seed": 42, "messages": [{"role": "user", "content": "hello"}]})

    assert asyncio.run(run()).json() == {"ok": True}


@pytest.mark.parametrize(
    ("method", "path", "body", "difference"),
    [
        ("PUT", "run/m", {"a": 1}, "method PUT, recorded POST"),
        ("POST", "run/other", {"a": 1}, "URL https://api.cloudflare.com/client/v4/accounts/ACCOUNT_ID/ai/run/other?key=REDACTED, recorded"),
        ("POST", "run/m", {"a": 1, "max_tokens": 16}, "max_tokens is 16, recorded null"),
        ("POST", "run/m", {"a": 1, "stream": True}, "stream is true, recorded false"),
    ],
)
def test_request_mismatches(tmp_path: Path, method: str, path: str, body: dict, difference: str) -> None:
    _planted(tmp_path, "cf/m/sync-Text", _interaction('{"a": 1}'))

    async def run() -> None:
        async with _replaying(tmp_path) as client:
            await _post(client, body, method=method, path=path)

    with pytest.raises(ApiError, match="asks another question") as caught:
        asyncio.run(run())
    assert difference in str(caught.value)


def test_json_bodies_match_whatever_their_spacing(tmp_path: Path) -> None:
    _planted(tmp_path, "cf/m/sync-Text", _interaction('{"b": [1, 2],\n "a": "x"}\n'))

    async def run() -> httpx.Response:
        async with _replaying(tmp_path) as client:
            return await _post(client, {"a": "x", "b": [1, 2]})

    assert asyncio.run(run()).json() == {"ok": True}


def test_retries_replay_in_order(server: _Provider, tmp_path: Path) -> None:
    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"{server.base}/run/retry", json={"q": 1}, extensions=_named("cf/m/retry"))

    async def run() -> tuple[list[int], list[int]]:
        async with _recording(tmp_path) as client:
            live = [(await send(client)).status_code for _ in range(2)]
        async with _replaying(tmp_path) as client:
            replayed = [(await send(client)).status_code for _ in range(2)]
            with pytest.raises(ApiError, match=r"not_recorded: request #3 of cf/m/retry: .*retry\.yaml holds 2"):
                await send(client)
        return live, replayed

    live, replayed = asyncio.run(run())
    assert live == replayed == [503, 200]
    assert len(load_cassette(tmp_path / "cf/m/retry.yaml").interactions) == 2


def test_broken_stream_is_recorded_with_its_error_and_replays_the_same(server: _Provider, tmp_path: Path) -> None:
    received: list[bytes] = []

    async def run(client_for: Callable[[Path], Any]) -> None:
        async with client_for(tmp_path) as client:
            async with client.stream("POST", f"{server.base}/run/broken", json={}, extensions=_named("cf/m/broken")) as r:
                async for chunk in r.aiter_bytes():
                    received.append(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(run(_recording))
    [recorded] = load_cassette(tmp_path / "cf/m/broken.yaml").interactions
    assert recorded.status == 200 and recorded.error.startswith("RemoteProtocolError: ")
    assert recorded.response_body == b"".join(received).decode()
    live, received[:] = list(received), []
    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(run(_replaying))
    assert b"".join(received) == b"".join(live)


def test_refused_connection_is_recorded_and_replayed(tmp_path: Path) -> None:
    async def run(client_for: Callable[[Path], Any]) -> None:
        async with client_for(tmp_path) as client:
            await client.post("http://127.0.0.1:9/v1/chat/completions", json={}, extensions=_named("p/m/refused"))

    with pytest.raises(httpx.ConnectError):
        asyncio.run(run(_recording))
    [recorded] = load_cassette(tmp_path / "p/m/refused.yaml").interactions
    assert (recorded.status, recorded.error.split(":")[0]) == (0, "ConnectError")
    with pytest.raises(httpx.ConnectError):
        asyncio.run(run(_replaying))


def test_abandoned_stream_records_what_the_caller_read(server: _Provider, tmp_path: Path) -> None:
    async def run() -> None:
        async with _recording(tmp_path) as client:
            async with client.stream("POST", f"{server.base}/run/abandon", json={}, extensions=_named("cf/m/abandon")) as r:
                async for _ in r.aiter_bytes():
                    break
        server.client_closed.set()

    asyncio.run(run())
    assert load_cassette(tmp_path / "cf/m/abandon.yaml").interactions[0].response_body == SSE_CHUNKS[0].decode()


@pytest.mark.parametrize("name", ["../escape", "a/../b", "/abs", "a//b", "./a"])
def test_names_cannot_leave_the_directory(tmp_path: Path, name: str) -> None:
    async def run() -> None:
        async with _recording(tmp_path) as client:
            await client.get("http://127.0.0.1:9/", extensions=_named(name))

    with pytest.raises(CassetteError, match="invalid cassette name"):
        asyncio.run(run())


TRICKY_BODIES = [
    "",
    "x",
    "x\n",
    "x\n\n\n",
    "\n",
    "\n\nleading newlines",
    "  leading spaces\nx\n",
    "trailing spaces  \nx",
    "trailing space ",
    "tab\there\n",
    "crlf\r\n",
    "next line\x85x",
    "line separator\u2028x\n",
    "unicode é 🙂\n",
    "\ufeffbom\n",
    "# not a comment\n- not a list\n--- not a document\n...\n",
    "binary \udc89PNG\udcff\n",
    'data: {"n":1}\n\ndata: [DONE]\n\n',
]


@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_save_load_round_trip_is_exact(tmp_path: Path, body: str) -> None:
    interaction = Interaction(
        method="POST",
        url="https://api.groq.com/openai/v1/chat/completions",
        request_body=body,
        request_headers={"Content-Type": ["application/json"]},
        status=200,
        response_headers={"Content-Length": [str(len(body))], "X-Ratelimit-Limit-Requests": ["500000"]},
        response_body=body,
        duration_ms=140.123456,
        proto="HTTP/2.0",
        # What a broken transfer left (a stream cut mid-way keeps its error), as tricky as the body.
        error=body,
    )
    cassette = Cassette(tmp_path / "deep/dir/c.yaml", [interaction, interaction])
    save_cassette(cassette)
    assert load_cassette(cassette.path) == cassette
    assert [p.name for p in cassette.path.parent.iterdir()] == ["c.yaml"], "temporary file left behind"


def test_sse_bodies_are_readable_blocks(tmp_path: Path) -> None:
    body = 'data: {"n":1}\n\ndata: [DONE]\n\n'
    save_cassette(Cassette(tmp_path / "c.yaml", [_interaction("{}", answer=body)]))
    assert '    body: |+\n      data: {"n":1}\n\n      data: [DONE]\n\n' in (tmp_path / "c.yaml").read_text()


def test_unreadable_cassette_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("interactions: [{request: 1}]")
    with pytest.raises(CassetteError, match="is not a go-vcr cassette"):
        load_cassette(path)
    path.write_text("a: [")
    with pytest.raises(CassetteError, match="is not valid YAML"):
        load_cassette(path)


def _fixtures() -> list[Path]:
    return sorted(FIXTURES.rglob("*.yaml"))


def test_reference_fixture_fields() -> None:
    groq = load_cassette(FIXTURES / "groq-2025-08-29/scoreboard-cassettes/llama-3.1-8b-instant/GenStream-Text.yaml")
    interaction = groq.interactions[0]
    # Go's JSON encoder sent the newline: content_length (118) counts it.
    assert interaction.request_body.endswith('"stream":true}\n') and len(interaction.request_body) == 118
    assert interaction.response_body.endswith("data: [DONE]\n\n")
    assert interaction.response_header("x-ratelimit-limit-requests") == "500000"
    assert interaction.duration_ms == 140
    assert interaction.proto == "HTTP/2.0"


def test_reference_fixtures_load_and_round_trip(tmp_path: Path) -> None:
    """Every recording reads as what was recorded, and is written back and read again unchanged
    (one pass over them all: reading thousands of cassettes is most of this suite's work).

    Each interaction is written and read through one cassette per recordings folder: the same
    writing and reading of every interaction, without a file and its fsync per recording."""
    paths = _fixtures()
    assert paths
    folders: dict[str, list[tuple[Path, Interaction]]] = {}
    for path in paths:
        original = load_cassette(path)
        assert original.interactions, path
        for interaction in original.interactions:
            assert 100 <= interaction.status < 600, path
            assert interaction.response_body, path
            # Hosted APIs were recorded over https; ollama's on http://localhost.
            assert interaction.url.startswith(("https://", "http://localhost/")), path
            folders.setdefault(path.relative_to(FIXTURES).parts[0], []).append((path, interaction))
    for folder, recorded in folders.items():
        copy = Cassette(tmp_path / f"{folder}.yaml", [interaction for _, interaction in recorded])
        save_cassette(copy)
        for (path, interaction), again in zip(recorded, load_cassette(copy.path).interactions, strict=True):
            assert again == interaction, path


@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_interactions_appended_one_by_one_make_the_cassette_saved_at_once(tmp_path: Path, body: str) -> None:
    """A recording adds each interaction to its file without reading back the ones before; the
    file is byte for byte the YAML document of the whole cassette, whichever interaction holds
    the body that makes libyaml end the document with `...` (a block keeping its last breaks)."""
    plain = Interaction("POST", "https://h/v1", "{}", {}, 200, {}, "ok", duration_ms=1.5)
    tricky = [
        dataclasses.replace(plain, request_body=body),
        dataclasses.replace(plain, response_body=body, response_headers={"Content-Length": [str(len(body))]}),
        # Errors are UTF-8 text.
        dataclasses.replace(plain, status=0, response_body="", error=body_bytes(body).decode(errors="replace") or "E: x"),
    ]
    for at in range(3):
        for odd in tricky:
            # Each its own objects, as recorded (the same dict twice in one document would be an anchor).
            interactions = [copy.deepcopy(odd if i == at else plain) for i in range(3)]
            document = {"version": 2, "interactions": [cassettes._document(i, x) for i, x in enumerate(interactions)]}
            whole = yaml.dump(document, Dumper=cassettes._Dumper, explicit_start=True, sort_keys=False, allow_unicode=True, width=2**30)
            appended = tmp_path / "appended.yaml"
            for index, interaction in enumerate(interactions):
                append_interaction(appended, interaction, index)
            saved = Cassette(tmp_path / "saved.yaml", interactions)
            save_cassette(saved)
            assert appended.read_bytes() == saved.path.read_bytes(), (at, odd)
            if yaml.__with_libyaml__:  # the end line goes where libyaml's emitter puts it, not PyYAML's own
                assert appended.read_bytes() == whole.encode(), (at, odd)
            assert load_cassette(appended).interactions == interactions
