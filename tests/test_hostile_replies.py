"""A provider on its worst day: every reply a probe can get, judged, never a crash, never a leak.

Each case is answered by a scripted server (tests/support/fake_openai.py, 127.0.0.1, finite
scripts) through the real command line: its model `bad-<case id>` gets the hostile reply to
every request, beside model `good`, which answers every probe correctly. Cases with the same
exit status, mode and config share one run (see `run_batch`), and each is still judged on its
own: whatever its model gets, the run ends with the documented exit status and no traceback,
`good` keeps every verdict, the case's model is in the results file with its evidence (never
silently dropped), and the key appears in no file and no output, whole, in pieces or as its prefix."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gzip
import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmprobe import results, results_file
from llmprobe.cassettes import load_cassette
from llmprobe.cli import app
from llmprobe.client import ProviderClient
from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.errors import ErrorKind
from llmprobe.neutral import Message, Request
from llmprobe.redaction import MIN_PIECE, PREFIX
from llmprobe.retries import RetryPolicy
from support.configs import write_providers
from support.fake_openai import DROP, Canned, FakeOpenAI, Pause, RecordedRequest, Scripted, chunk, completion
from support.passing_provider import EXPECTED_VERDICTS, wire_answer

KEY = "sk-live-PLANTED0123456789abcdefghijklmnopqrstuv"
#: Every piece of the key that must never be written: MIN_PIECE-long windows, and its prefix.
KEY_PIECES = {KEY[i : i + MIN_PIECE] for i in range(len(KEY) - MIN_PIECE + 1)} | {KEY[:PREFIX]}
JSON = {"Content-Type": "application/json"}
DEEP = 100_000


def leaks(data: bytes | str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return sorted(piece for piece in KEY_PIECES if piece in text)


# --- building hostile answers ---------------------------------------------------------------


def body(data: bytes | str, status: int = 200, headers: dict[str, str] | None = None) -> Canned:
    return Canned(status, {**JSON, **(headers or {})}, data.encode() if isinstance(data, str) else data)


def reply_with(**message: object) -> bytes:
    """A well-formed completion whose message has these fields (as JSON)."""
    payload = completion("Hello.")
    payload["choices"][0]["message"].update(message)
    return json.dumps(payload).encode()


def spliced(old: str, new: str, base: dict | None = None) -> bytes:
    """A completion's JSON text with `old` replaced by `new`: for what json.dumps cannot write."""
    text = json.dumps(base or completion("Hello."))
    assert old in text
    return text.replace(old, new, 1).encode()


def stream(*steps: str | bytes | Pause, done: bool = True) -> Canned:
    """A 200 event stream of these raw steps (each sent as one chunk), then [DONE] unless told not to."""
    return Canned(200, {"Content-Type": "text/event-stream"}, (*steps, *(["data: [DONE]\n\n"] if done else [])))


def event(payload: dict) -> str:
    return f"data: {json.dumps(payload)}\n\n"


GOOD_CHUNK = event(chunk("Hello.")) + event(chunk(finish_reason="stop")) + event(chunk(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}))


def tool_reply(arguments: str, request: RecordedRequest) -> Scripted:
    """The correct answer to every probe, but tool calls carry `arguments` verbatim (JSON text)."""
    answer = wire_answer(request.json, 0.0)
    if not request.json.get("tools"):
        return answer
    call = {"id": "call_0", "type": "function", "function": {"name": request.json["tools"][0]["function"]["name"], "arguments": "ARGS"}}
    payload = completion("")
    payload["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    payload["choices"][0]["finish_reason"] = "tool_calls"
    return body(json.dumps(payload).replace('"ARGS"', arguments))


def streamed_tool_reply(arguments: str, request: RecordedRequest) -> Scripted:
    answer = wire_answer(request.json, 0.0)
    if not request.json.get("tools"):
        return answer
    name = request.json["tools"][0]["function"]["name"]
    delta = {"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": name, "arguments": "ARGS"}}]}}
    first = {"object": "chat.completion.chunk", "choices": [delta]}
    return stream(event(first).replace('"ARGS"', arguments), event(chunk(finish_reason="tool_calls")))


def echo_key(request: RecordedRequest) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


@dataclass(frozen=True)
class Case:
    id: str
    mode: str
    answer: Callable[[RecordedRequest], Scripted]
    #: The documented exit status: 1 when some verdict could not be measured, 0 when every reply was judged.
    exit: int = 0
    #: Settings added to the provider's config (a smaller reply limit, a shorter timeout).
    config: Mapping[str, int] = field(default_factory=dict)


def case(id: str, mode: str, answer: Scripted | Callable[[RecordedRequest], Scripted], **config: int) -> Case:
    return Case(id, mode, answer if callable(answer) else (lambda _request, a=answer: a), 0, config)


# Unreadable: the verdicts are unknown (❔) and the run exits 1.
UNREADABLE = [
    case("invalid-json", "sync", body(b'{"choices": [')),
    case("html-200", "sync", body(b"<html><head><title>Welcome</title></head><body>captive portal</body></html>", headers={"Content-Type": "text/html"})),
    case("empty-200", "sync", body(b"")),
    case("whitespace-200", "sync", body(b" \r\n\t ")),
    case("nan", "sync", body(spliced('"prompt_tokens": 5', '"prompt_tokens": NaN'))),
    case("infinity", "sync", body(spliced('"prompt_tokens": 5', '"prompt_tokens": Infinity'))),
    case("minus-infinity", "sync", body(spliced('"prompt_tokens": 5', '"prompt_tokens": -Infinity'))),
    case("400-digit-integer", "sync", body(spliced('"prompt_tokens": 5', '"prompt_tokens": ' + "9" * 400))),
    case("float-overflow", "sync", body(spliced('"prompt_tokens": 5', '"prompt_tokens": 1e400'))),
    case("deep-array", "sync", body("[" * DEEP + "]" * DEEP)),
    case("deep-inside-reply", "sync", body(spliced('"id": "chatcmpl-fake"', '"id": ' + "[" * DEEP + "]" * DEEP))),
    case("deep-object", "sync", body('{"a":' * DEEP + "1" + "}" * DEEP)),
    case("invalid-utf8", "sync", body(b'{"choices": [{"message": {"content": "caf\xe9 \xff\xfe"}, "finish_reason": "stop"}]}')),
    case("utf8-bom", "sync", body(b"\xef\xbb\xbf" + reply_with(content="Hello."))),
    case("utf16", "sync", body(reply_with(content="Hello.").decode().encode("utf-16"))),
    case("single-quotes", "sync", body(b"{'choices': []}")),
    case("trailing-garbage", "sync", body(reply_with(content="Hello.") + b"}{")),
    case("two-documents", "sync", body(reply_with(content="Hello.") * 2)),
    case("no-content-204", "sync", Canned(204, {}, b"")),
    case("bad-gzip", "sync", body(b"this is not gzip", headers={"Content-Encoding": "gzip"})),
    case("gzip-bomb", "sync", body(gzip.compress(b"{" + b" " * 8_000_000 + b"}"), headers={"Content-Encoding": "gzip"})),
    case("too-large", "sync", body(b'{"pad": "' + b"x" * 300_000 + b'"}'), max_reply_bytes=65536),
    case("too-large-stream", "stream", stream(*[f"data: {json.dumps(chunk('x' * 8000))}\n\n" for _ in range(40)]), max_reply_bytes=65536),
    case("endless-line", "stream", stream(*["data: " + "y" * 20_000 for _ in range(10)]), max_reply_bytes=65536),
    case("garbage-chunk", "stream", stream(event(chunk("Hel")), "data: {oops\n\n")),
    case("html-chunk", "stream", stream("data: <html>502</html>\n\n")),
    case("nan-chunk", "stream", stream('data: {"choices": [{"delta": {"content": "x"}, "logprobs": {"content": [{"token": "x", "logprob": NaN}]}}]}\n\n')),
    case("deep-chunk", "stream", stream("data: " + "[" * DEEP + "]" * DEEP + "\n\n")),
    case("big-number-chunk", "stream", stream(event(chunk("Hi")), 'data: {"choices": [], "usage": {"prompt_tokens": ' + "7" * 1000 + "}}\n\n")),
    case("invalid-utf8-chunk-then-garbage", "stream", stream(b'data: {"choices": [{"delta": {"content": "\xff"}}]}\n\n', "data: nope\n\n")),
]

# The bytes never arrived whole: TRANSPORT, unknown, exit 1.
TRANSPORT = [
    case("drop-before-status", "sync", DROP),
    case("short-content-length", "sync", Canned(200, {**JSON, "Content-Length": "5000"}, (b'{"choices": [', DROP))),
    case("stream-dropped", "stream", stream(event(chunk("Hel")), DROP, done=False)),
    case("stream-cut-before-its-finish", "stream", stream(event(chunk("Hel")), event(chunk("lo")), done=False)),
    case("keep-alive-forever", "stream", stream(*[": keep-alive\n\n", Pause(0.1)] * 40, done=False), timeout=1),
    case("trickle-sync", "sync", Canned(200, JSON, tuple(x for c in reply_with(content="Hi")[:60] for x in (bytes([c]), Pause(0.05)))), timeout=1),
    case("slow-first-byte", "sync", Canned(200, JSON, reply_with(content="Hi"), delay=1.6), timeout=1),
    case("gateway-error-echoing-key", "sync", lambda r: body(json.dumps({"error": {"message": f"upstream failed for key {echo_key(r)}"}}), status=503)),
    case("error-event", "stream", stream(event(chunk("Hel")), "event: error\ndata: upstream died\n\n", done=False)),
    case("error-event-echoing-key", "stream", lambda r: stream(f'event: error\ndata: {{"error": {{"message": "bad key {echo_key(r)}"}}}}\n\n', done=False)),
]

# No answer about the model (docs/methodology.md, "No answer"): unknown, exit 1.
NO_ANSWER = [
    case("redirect", "sync", Canned(302, {"Location": "http://127.0.0.1:9/elsewhere"}, b"")),
    case("redirect-301-with-a-body", "sync", Canned(301, {"Location": "https://moved.invalid/v1"}, b"<html>Moved</html>")),
    case("redirect-307-to-a-stream", "stream", Canned(307, {"Location": "/v2/chat/completions"}, b"")),
    case("overloaded-envelope-in-a-200", "sync", body(b'{"error": {"message": "overloaded", "type": "server_error"}}')),
]

# Read and judged as what they are: a refusal, a broken tool call, a strange but readable
# answer. Every verdict measured, exit 0 — and never the key.
JUDGED = [
    case("lone-surrogate-text", "sync", body(spliced('"Hello."', '"Hello \\ud800 there"'))),
    case("low-surrogate-text", "sync", body(spliced('"Hello."', '"\\udc00Hello."'))),
    case("lone-surrogate-tool-arguments", "sync", lambda r: tool_reply('"{\\"number\\": \\"\\ud800\\"}"', r)),
    case("lone-surrogate-streamed-tool-arguments", "stream", lambda r: streamed_tool_reply('"{\\"x\\": \\"\\udfff\\"}"', r)),
    case("lone-surrogate-error", "sync", body('{"error": {"message": "bad \\ud800 request"}}', status=400)),
    case("lone-surrogate-delta", "stream", stream('data: {"choices": [{"delta": {"content": "Hi \\ud83d"}}]}\n\n', event(chunk(finish_reason="stop")))),
    case("nul-and-controls", "sync", body(spliced('"Hello."', '"Hel\\u0000lo\\u001b[31m\\u0007."'))),
    case("content-a-number", "sync", body(reply_with(content=7))),
    case("no-choices", "sync", body(b'{"id": "x"}')),
    case("choices-an-object", "sync", body(b'{"choices": {"0": {}}}')),
    case("json-null", "sync", body(b"null")),
    case("json-list", "sync", body(b"[]")),
    case("json-string", "sync", body(b'"Hello."')),
    case("message-null", "sync", body(b'{"choices": [{"message": null}]}')),
    case("tool-calls-a-string", "sync", body(reply_with(tool_calls="call me"))),
    case("tool-calls-of-numbers", "sync", body(reply_with(tool_calls=[1, 2, 3]))),
    case("tool-arguments-an-object", "sync", lambda r: tool_reply('{"number": 132413}', r)),
    case("tool-arguments-not-json", "sync", lambda r: tool_reply('"{number: oops"', r)),
    case("finish-reason-a-number", "sync", body(spliced('"finish_reason": "stop"', '"finish_reason": 3'))),
    case("usage-a-string", "sync", body(spliced('"usage": {', '"usage": "lots", "x": {'))),
    case("negative-usage", "sync", body(spliced('"prompt_tokens": 5', '"prompt_tokens": -5'))),
    case("status-999", "sync", body(reply_with(content="Hello."), status=999)),
    case("duplicate-keys", "sync", body(spliced('"content": "Hello."', '"content": "Hi.", "content": "Hello."'))),
    case("garbage-rate-limit-headers", "sync", body(reply_with(content="Hello."), headers={
        "x-ratelimit-limit-requests": "NaN", "x-ratelimit-remaining-requests": "9" * 500,
        "x-ratelimit-reset-requests": "1e400s", "x-ratelimit-limit-tokens": "-1", "retry-after": "inf"})),
    case("headers-not-ascii", "sync", body(reply_with(content="Hello."), headers={"X-Note": "caf\u00e9 \u00ff"})),
    case("closed-without-events", "stream", stream(done=False)),
    case("json-body-to-a-stream", "stream", body(reply_with(content="Hello."), headers={"Content-Type": "text/event-stream"})),
    case("chunk-a-list", "stream", stream("data: [1, 2]\n\n")),
    case("choices-a-string-in-chunks", "stream", stream('data: {"choices": "lots"}\n\n', GOOD_CHUNK)),
    case("huge-tool-index", "stream", stream('data: {"choices": [{"delta": {"tool_calls": [{"index": 1000000000000000000, "function": {"name": "f", "arguments": "{}"}}]}}]}\n\n', GOOD_CHUNK)),
    case("string-tool-index", "stream", stream('data: {"choices": [{"delta": {"tool_calls": [{"index": "0", "id": "a", "function": {"name": 5}}]}}]}\n\n', GOOD_CHUNK)),
    case("cr-line-endings", "stream", stream(GOOD_CHUNK.replace("\n", "\r"))),
    case("many-comments", "stream", stream(*[": ping\n"] * 2000, GOOD_CHUNK)),
    case("invalid-utf8-in-delta", "stream", stream(b'data: {"choices": [{"delta": {"content": "caf\xe9"}}]}\n\n', GOOD_CHUNK)),
    case("key-in-text", "sync", lambda r: body(reply_with(content=f"Your key is {echo_key(r)}, thanks."))),
    case("key-piece-in-text", "sync", lambda r: body(reply_with(content=f"key fragment {echo_key(r)[9:21]} here"))),
    case("key-masked-with-prefix", "sync", lambda r: body(json.dumps({"error": {"message": f"Incorrect API key provided: {echo_key(r)[:6]}****{echo_key(r)[-2:]}"}}), status=400)),
    case("key-in-reasoning", "sync", lambda r: body(reply_with(content="Hello.", reasoning=f"the user key is {echo_key(r)}"))),
    case("key-in-tool-arguments", "sync", lambda r: tool_reply(json.dumps(json.dumps({"number": echo_key(r)})), r)),
    case("key-in-streamed-text", "stream", lambda r: stream(event(chunk(f"key {echo_key(r)[:20]}")), event(chunk(f"{echo_key(r)[20:]} end")), event(chunk(finish_reason="stop")))),
    case("key-in-header-value", "sync", lambda r: body(reply_with(content="Hello."), headers={"X-Echo": echo_key(r)})),
    case("key-as-header-name", "sync", lambda r: body(reply_with(content="Hello."), headers={f"X-{echo_key(r)}": "1"})),
    case("key-in-server-refusal", "sync", lambda r: body(json.dumps({"error": {"message": f"key {echo_key(r)} is not supported"}}), status=500)),
    case("key-in-rejection", "sync", lambda r: body(json.dumps({"error": {"message": f"{echo_key(r)} may not ask this"}}), status=400)),
    case("key-url-encoded", "sync", lambda r: body(reply_with(content=f"https://x.invalid/?k={echo_key(r)}".replace("-", "%2D")))),
]

CASES = [dataclasses.replace(c, exit=1) for c in UNREADABLE + TRANSPORT + NO_ANSWER] + JUDGED


def write_config(tmp: Path, base_url: str, extra: Mapping[str, int], models: Sequence[str]) -> Path:
    provider = {"api": "openai", "base_url": base_url, "api_key_env": "FAKE_API_KEY", "max_retries": 0, "timeout": 10, **extra}
    return write_providers(tmp, {"fake": {**provider, "models": list(models)}})


# --- one run of the command line per batch of cases ------------------------------------------
#
# Cases that share an exit status, a mode and a config share a run: one provider whose models
# are the control `good` and one `bad-<case id>` per case, the server answering each model by
# its name. So the control is asked once per batch instead of once per case, and the run's exit
# status is each of its cases' (a run exits 1 as soon as one probe gets no answer, so a batch
# of exit-1 cases also has each case show its own part in it: an "error" outcome). Pacing is per
# model with this dialect (`RATE_LIMIT_SCOPE`): one case's rate-limit headers pace its model only.

#: The cases one run answers: the same exit status, mode and config.
BatchKey = tuple[int, str, tuple[tuple[str, int], ...]]


def batch_of(hostile: Case) -> BatchKey:
    return hostile.exit, hostile.mode, tuple(sorted(hostile.config.items()))


def model_of(hostile: Case) -> str:
    return f"bad-{hostile.id}"


@dataclass
class BatchRun:
    """One run of the command line against a batch of cases, and what it left on disk."""

    directory: Path
    mode: str
    ran: Result
    result: results.ProviderResult
    #: Every file the run wrote, by the case whose cassette it is (None: the run's own, or `good`'s).
    files: dict[Path, str | None]

    def written_for(self, hostile: Case) -> list[Path]:
        """The run's files but the other cases' cassettes: what leaks there is their failure."""
        return [path for path, owner in self.files.items() if owner in (None, hostile.id)]

    @functools.cached_property
    def leaks(self) -> dict[Path, list[str]]:
        """The key's pieces found in each file, in its bytes or its name: searched once for the batch."""
        return {path: leaks(path.read_bytes()) + leaks(str(path)) for path in self.files}

    @functools.cached_property
    def unloadable(self) -> dict[Path, str]:
        """The cassettes that do not load, with the error: each one loaded once for the batch."""
        failed = {}
        for path in self.files:
            if path.suffix == ".yaml" and path.parent != self.directory:
                try:
                    load_cassette(path)
                except Exception as exc:
                    failed[path] = repr(exc)
        return failed

    @functools.cached_property
    def document(self) -> dict:
        """The results file read as strict UTF-8 JSON: no NaN or Infinity may be written."""
        return json.loads((self.directory / "out" / "fake.json").read_bytes().decode("utf-8"), parse_constant=_refuse)

    @functools.cached_property
    def replayed(self) -> tuple[Result, results.ProviderResult]:
        """The batch run again from its recording."""
        again = self.directory / "again"
        ran = CliRunner().invoke(
            app,
            ["run", "-p", "fake", "--mode", self.mode, "--config", str(self.directory / "providers.yaml"), "--out", str(again), "--replay", str(self.directory / "rec")],
            env={"FAKE_API_KEY": KEY},
        )
        return ran, results_file.load(again / "fake.json")


def run_batch(directory: Path, members: Sequence[Case]) -> BatchRun:
    """`members` (one mode, one config) in one recorded run, their models beside `good`."""
    answers: dict[str, Callable[[RecordedRequest], Scripted]] = {"good": lambda request: wire_answer(request.json, 0.0)}
    answers.update((model_of(c), c.answer) for c in members)
    mode, config = members[0].mode, members[0].config
    with FakeOpenAI(lambda request: answers[request.json["model"]](request)) as server:
        cfg = write_config(directory, server.base_url, config, list(answers))
        out, rec = directory / "out", directory / "rec"
        ran = CliRunner().invoke(
            app,
            ["run", "-p", "fake", "--mode", mode, "-v", "--config", str(cfg), "--out", str(out), "--record", str(rec)],
            env={"FAKE_API_KEY": KEY},
        )
    # A cassette's directory is its model's: rec/fake/MODEL/NAME.yaml.
    owners = {model_of(c): c.id for c in members}
    files = {path: owners.get(path.parent.name) for path in directory.rglob("*") if path.is_file()}
    return BatchRun(directory, mode, ran, results_file.load(out / "fake.json"), files)


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], BatchRun]:
    """The run of a case's batch, made when a case of it first asks (`-k` runs only what it selects)."""
    runs: dict[BatchKey, BatchRun] = {}

    def of(hostile: Case) -> BatchRun:
        key = batch_of(hostile)
        if key not in runs:
            runs[key] = run_batch(tmp_path_factory.mktemp("batch"), [c for c in CASES if batch_of(c) == key])
        return runs[key]

    return of


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_a_hostile_reply_is_judged_without_a_traceback_a_leak_or_a_loss(batches: Callable[[Case], BatchRun], hostile: Case) -> None:
    run = batches(hostile)
    output = run.ran.output
    assert run.ran.exception is None or isinstance(run.ran.exception, SystemExit), output
    assert "Traceback" not in output

    # The hostile one is judged, not dropped: in the file, with its evidence and a reason for each failure.
    bad = run.result.model(model_of(hostile))
    assert bad is not None and run.result.incomplete == [], output
    evidence = bad.modes[hostile.mode].probes
    assert evidence
    for each in evidence:
        assert each.outcome == "pass" or each.reason
    # Its own part in the exit status (checked before the batch's, which every case of it shares):
    # a probe left without an answer is what makes a run exit 1.
    assert any(e.outcome == "error" for e in evidence) == (hostile.exit == 1), [(e.probe, e.outcome) for e in evidence]
    if hostile.exit == 1:
        assert "unknown" in bad.modes[hostile.mode].verdicts.values()
    assert run.ran.exit_code == hostile.exit, output
    # The other model lost nothing.
    good = run.result.model("good")
    assert good is not None and good.modes[hostile.mode].verdicts == EXPECTED_VERDICTS

    # Nothing written or printed holds the key, and everything written is strict UTF-8 JSON or YAML.
    assert leaks(output) == []
    written = run.written_for(hostile)
    for path in written:
        assert run.leaks[path] == [], path
    assert model_of(hostile) in [m["id"] for m in run.document["models"]]
    cassettes = [p for p in written if p.suffix == ".yaml" and p.parent != run.directory]
    assert cassettes
    assert {p: run.unloadable[p] for p in cassettes if p in run.unloadable} == {}


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} written to a results file")


def test_the_suite_is_as_large_as_promised() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


# --- deadlines and memory ---------------------------------------------------------------------


def generate_once(server: FakeOpenAI, *, stream: bool, timeout: float, max_reply_bytes: int | None = None):
    async def go():
        async with httpx.AsyncHTTPTransport() as transport:
            options = {} if max_reply_bytes is None else {"max_reply_bytes": max_reply_bytes}
            client = ProviderClient(
                OpenAIDialect(server.base_url),
                transport,
                retry=RetryPolicy(max_retries=0),
                timeout=timeout,
                phase_timeouts=httpx.Timeout(60),
                **options,
            )
            return await client.generate("m", Request(messages=(Message.user("Hi"),), stream=stream))

    return asyncio.run(go())


TRICKLE = Canned(200, JSON, tuple(x for c in reply_with(content="Hello.") for x in (bytes([c]), Pause(0.1))))
KEEP_ALIVE = stream(event(chunk("Hel")), *[": keep-alive\n\n", Pause(0.2)] * 100, done=False)
TRICKLED_STREAM = stream(*[x for c in GOOD_CHUNK for x in (c, Pause(0.1))])


@pytest.mark.parametrize(
    ("answer", "streamed"),
    [(TRICKLE, False), (KEEP_ALIVE, True), (TRICKLED_STREAM, True)],
    ids=["trickled-body", "keep-alive-comments", "trickled-stream"],
)
def test_a_1s_timeout_ends_a_reply_that_never_finishes_within_3s(answer: Canned, streamed: bool) -> None:
    """A correctness bound, not a speed measurement: each of these would take 4-20 s if
    the timeout were per read, so 3 s leaves generous margin on a loaded machine."""
    with FakeOpenAI([answer]) as server:
        started = time.monotonic()
        exchange = generate_once(server, stream=streamed, timeout=1.0)
        elapsed = time.monotonic() - started
    assert exchange.error is not None and exchange.error.kind is ErrorKind.TRANSPORT  # type: ignore[attr-defined]
    assert "timed out" in str(exchange.error)
    assert 0.95 < elapsed < 3.0


MEMORY_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, sys.argv[1])
    import httpx
    from support.fake_openai import Canned, FakeOpenAI
    from llmprobe.client import ProviderClient
    from llmprobe.retries import RetryPolicy
    from llmprobe.dialects.openai import OpenAIDialect
    from llmprobe.neutral import Message, Request

    MB = b"x" * (1 << 20)
    sync = Canned(200, {"Content-Type": "application/json"}, (b'{"pad": "', *[MB] * 50, b'"}'))
    streamed = Canned(200, {"Content-Type": "text/event-stream"}, (b"data: ", *[MB] * 50, b"\\n\\n"))

    async def go(answer, stream):
        with FakeOpenAI([answer]) as server:
            async with httpx.AsyncHTTPTransport() as transport:
                client = ProviderClient(
                    OpenAIDialect(server.base_url),
                    transport,
                    retry=RetryPolicy(max_retries=0),
                    timeout=60,
                    phase_timeouts=httpx.Timeout(60),
                )
                exchange = await client.generate("m", Request(messages=(Message.user("Hi"),), stream=stream))
                print(exchange.error)

    asyncio.run(go(sync, False))
    asyncio.run(go(streamed, True))
    # VmHWM is this process's own peak: ru_maxrss would carry the forking parent's (pytest's) over exec.
    print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) // 1024)
    """
)


def test_a_50mb_reply_is_refused_without_holding_it() -> None:
    """Peak memory of a process taking two 50 MB replies (sync and streamed) at the default limit."""
    ran = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(Path(__file__).parent)], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    *errors, peak_mb = ran.stdout.split("\n")[:-1]
    assert errors == ["HTTP 200: reply too large: more than 4194304 bytes"] * 2
    assert int(peak_mb) < 200, f"peak RSS {peak_mb} MB"


@pytest.mark.parametrize("hostile", [c for c in CASES if c.id in ("keep-alive-forever", "trickle-sync", "slow-first-byte", "too-large", "gateway-error-echoing-key")], ids=lambda c: c.id)
def test_replaying_a_recorded_hostile_run_judges_it_the_same(batches: Callable[[Case], BatchRun], hostile: Case) -> None:
    """A request the client gave up on (its deadline) is recorded as the timeout it was: the same
    verdicts, outcomes and reasons, except that the recording keeps httpx's exception
    (ReadTimeout), not the client's own limit."""
    run = batches(hostile)
    ran, replayed = run.replayed
    assert ran.exit_code == hostile.exit, ran.output
    for model in ("good", model_of(hostile)):
        before, after = run.result.model(model), replayed.model(model)
        assert before is not None and after is not None
        assert after.modes[hostile.mode].verdicts == before.modes[hostile.mode].verdicts
        evidence = [(e.probe, e.outcome, e.reason) for e in after.modes[hostile.mode].probes]
        assert evidence == [(e.probe, e.outcome, _as_recorded(e.reason)) for e in before.modes[hostile.mode].probes]


def _as_recorded(reason: str) -> str:
    return re.sub(r"timed out: no complete answer within \S+", "timed out: ReadTimeout", reason)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (lambda r: body(json.dumps({"data": [{"id": f"model-{echo_key(r)}"}, {"id": "m"}]})), 0),
        (lambda r: body(json.dumps({"error": {"message": f"Incorrect API key provided: {echo_key(r)[:6]}***{echo_key(r)[-4:]}"}}), status=400), 2),
        (lambda r: body(b"[" * DEEP + b"]" * DEEP), 2),
        (lambda r: body(json.dumps({"data": [{"id": "a\ud800"}]})), 0),
    ],
    ids=["key-as-a-model-id", "masked-key-in-an-error", "deep-nesting", "lone-surrogate-id"],
)
def test_models_output_holds_no_key_and_no_traceback(tmp_path: Path, answer: Callable[[RecordedRequest], Scripted], status: int) -> None:
    with FakeOpenAI(answer) as server:
        cfg = write_config(tmp_path, server.base_url, {}, ["good", "bad"])
        for extra in ([], ["--json"]):
            ran = CliRunner().invoke(app, ["models", "-p", "fake", "--config", str(cfg), *extra], env={"FAKE_API_KEY": KEY})
            assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.output
            assert ran.exit_code == status, ran.output
            assert leaks(ran.output) == [], ran.output
            if status == 2:
                assert ran.output.startswith("llmprobe: error: listing the models of fake failed: ") and ran.output.count("\n") == 1


def test_a_model_whose_judging_raises_is_left_incomplete_and_the_others_keep_their_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug meeting a reply nobody foresaw (here: judging `bad` raises) costs that model only."""
    from llmprobe.runner import ModelProber

    judge = ModelProber._result
    raising = case("judging-raises", "sync", lambda r: wire_answer(r.json, 0.0))

    def failing(self: ModelProber, runs: list) -> object:
        if self.model.id == model_of(raising):
            raise KeyError(f"surprise for {KEY}")
        return judge(self, runs)

    monkeypatch.setattr(ModelProber, "_result", failing)
    run = run_batch(tmp_path, [raising])
    assert run.ran.exit_code == 1 and "Traceback" not in run.ran.output
    assert "fake: model 'bad-judging-raises' could not be judged (KeyError: 'surprise for REDACTED'); it is left incomplete" in run.ran.output
    assert leaks(run.ran.output) == []
    assert run.result.incomplete == [("bad-judging-raises", False)]
    good = run.result.model("good")
    assert good is not None and good.modes["sync"].verdicts == EXPECTED_VERDICTS
