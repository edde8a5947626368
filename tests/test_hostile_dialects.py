"""The same hostile reply in every registered dialect's wire format: no hang, bounded memory,
and no verdict from what is not an answer (docs/methodology.md, "No answer").

The dialect-level tables run each dialect's own parser on the bytes of tests/support/hostile_wire.py;
the client-level ones send them through the real client; the end-to-end table runs the command
line against a local server answering every request with the hostile reply.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import importlib.util
import json
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmprobe import bodies, results_file
from llmprobe.battery import load_battery
from llmprobe.budget import Budget
from llmprobe.cli import app
from llmprobe.client import ProviderClient
from llmprobe.config import ModelConfig
from llmprobe.dialects import DIALECTS, get_dialect
from llmprobe.errors import ApiError, ErrorKind
from llmprobe.neutral import Exchange, Message, Request, Usage
from llmprobe.retries import RetryPolicy
from llmprobe.runner import ModelProber, ProviderStopped
from support.configs import write_providers
from support.fake_openai import Canned, FakeOpenAI, RecordedRequest
from support.hostile_wire import WIRES, Wire, events, stream_bytes

APIS = sorted(DIALECTS)
KEY = "sk-hostile-0123456789abcdefghijklmnop"
HI = Request(messages=(Message.user("Hi"),))
#: Token counters that are no counts: every one must leave the usage "not reported".
BAD_COUNTS = [-26_000_000, -1, "3", "many", 2.5, True, [1], {"n": 1}]


def test_every_registered_dialect_has_its_hostile_wire() -> None:
    assert sorted(WIRES) == APIS


def dialect(api: str) -> Any:
    return get_dialect(api, "http://127.0.0.1:1/v1")


def parse_stream(api: str, steps: list[tuple[str, dict | str]]) -> Any:
    parser = dialect(api).stream_parser()
    for event in events(steps):
        parser.feed(event)
    return parser.finish()


# --- usage: believed only as non-negative integers, and never the reason to lose an answer ----------------


@pytest.mark.parametrize("api", APIS)
def test_the_plain_answer_is_read_with_its_usage_in_both_modes(api: str) -> None:
    wire = WIRES[api]
    for reply in (dialect(api).parse(200, {}, json.dumps(wire.answer(3)).encode()), parse_stream(api, wire.streamed(3))):
        assert reply.text == "Hello."
        assert reply.usage.input_tokens == 3 and reply.usage.output_tokens >= 3


@pytest.mark.parametrize("count", BAD_COUNTS, ids=repr)
@pytest.mark.parametrize("api", APIS)
def test_counters_that_are_no_counts_leave_the_answer_whole_and_the_usage_unreported(api: str, count: Any) -> None:
    wire = WIRES[api]
    for reply in (dialect(api).parse(200, {}, json.dumps(wire.answer(count)).encode()), parse_stream(api, wire.streamed(count))):
        assert reply.text == "Hello."
        assert reply.usage == Usage(), reply.usage


def test_the_budget_keeps_the_estimate_of_a_reply_without_usage() -> None:
    """A provider that reports no usage (or none believable) must not make a budget endless."""

    async def go() -> Budget:
        budget = Budget(tokens=1000)
        ticket = await budget.reserve("p", Request(messages=(Message.user("x" * 400),), max_tokens=50), None)
        budget.settle(ticket, "p", Usage(), None)
        return budget

    assert asyncio.run(go()).spent_tokens == 100 + 50


# --- a 200 carrying the dialect's error envelope: the provider failed, nothing was said about the request -----


@pytest.mark.parametrize("api", APIS)
def test_an_error_envelope_in_a_200_is_the_server_failing_in_both_modes(api: str) -> None:
    wire = WIRES[api]
    with pytest.raises(ApiError) as sync:
        dialect(api).parse(200, {}, json.dumps(wire.envelope).encode())
    with pytest.raises(ApiError) as streamed:
        parse_stream(api, [("", wire.envelope)])
    for raised in (sync.value, streamed.value):
        assert raised.kind is ErrorKind.SERVER and raised.retryable, raised
        assert "verloaded" in raised.message


# --- unknown stream events are skipped, whatever they hold ---------------------------------------------------


@pytest.mark.parametrize("delta", ["some text", 7, None, [1, 2], {"message": "x"}], ids=repr)
@pytest.mark.parametrize("api", APIS)
def test_an_unknown_stream_event_is_skipped_whatever_its_delta(api: str, delta: Any) -> None:
    steps = WIRES[api].streamed(3)
    unknown = ("brand-new-event", {"type": "brand-new-event", "delta": delta})
    reply = parse_stream(api, [steps[0], unknown, *steps[1:]])
    assert reply.text == "Hello."


# --- through the client: redirects and bombs ---------------------------------------------------------------


class Raw(httpx.AsyncByteStream):
    """A body served in raw network-sized pieces, counting what the client took."""

    def __init__(self, data: bytes, piece: int = 65536) -> None:
        self.data, self.piece, self.taken = data, piece, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.piece):
            self.taken = start + self.piece
            yield self.data[start : start + self.piece]


def generate(api: str, answer: Callable[[httpx.Request], httpx.Response], *, stream: bool, **options: Any) -> Exchange:
    async def go() -> Exchange:
        client = ProviderClient(
            get_dialect(api, "http://127.0.0.1:1/v1"), httpx.MockTransport(answer), api_key=KEY, retry=RetryPolicy(wait=False), **options
        )
        return await client.generate("m", Request(messages=(Message.user("Hi"),), stream=stream))

    return asyncio.run(go())


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
@pytest.mark.parametrize("api", APIS)
def test_a_redirect_is_no_answer_with_its_location_and_is_not_asked_again(api: str, stream: bool, status: int) -> None:
    sent: list[httpx.Request] = []
    body = Raw(b"<html>" + b"moved " * 100_000 + b"</html>")

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status, headers={"Location": f"https://elsewhere.invalid/v9?key={KEY}"}, stream=body)

    exchange = generate(api, answer, stream=stream)
    error = exchange.error
    assert isinstance(error, ApiError) and error.kind is ErrorKind.REDIRECTED and error.status == status
    assert "redirected to https://elsewhere.invalid/v9?key=" in str(error) and KEY not in str(error)
    assert len(sent) == 1 and exchange.attempts == 1
    assert body.taken == 0, "a redirect's body is never read"


@functools.cache
def gzip_bomb(megabytes: int) -> bytes:
    """`megabytes` MiB of spaces in JSON, gzipped (about 1 KiB per MiB), made without holding them;
    once per size, since every request of a run may be answered with it."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [deflate.compress(b'{"pad": "')]
    mib = b" " * (1 << 20)
    parts += [deflate.compress(mib) for _ in range(megabytes)]
    parts.append(deflate.compress(b'"}') + deflate.flush())
    return b"".join(parts)


@pytest.mark.parametrize("status", [200, 500])
@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
@pytest.mark.parametrize("api", APIS)
def test_a_gzip_bomb_is_refused_after_reading_little_more_than_the_limit(api: str, stream: bool, status: int) -> None:
    bomb = Raw(gzip_bomb(64), piece=1 << 20)  # one network read holds the whole 64 MiB

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, stream=bomb)

    exchange = generate(api, answer, stream=stream, max_reply_bytes=1 << 20)
    assert isinstance(exchange.error, ApiError) and exchange.error.kind is ErrorKind.UNREADABLE
    assert "reply too large: more than 1048576 bytes" in str(exchange.error)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw", "gzip, gzip"])
def test_decoding_holds_at_most_a_piece_at_a_time_whatever_one_read_inflates_to(encoding: str) -> None:
    original = b"x" * (8 << 20)
    if encoding == "gzip":
        raw = gzip.compress(original)
    elif encoding == "gzip, gzip":
        raw = gzip.compress(gzip.compress(original))
    elif encoding == "deflate":
        raw = zlib.compress(original)
    else:
        deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        raw, encoding = deflate.compress(original) + deflate.flush(), "deflate"
    decoder = bodies.Decoder({"content-encoding": encoding})
    pieces = [*decoder.feed(raw), *decoder.end()]
    assert max(map(len, pieces)) <= bodies.PIECE
    assert b"".join(pieces) == original


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br"])
def test_encodings_never_asked_for_are_unreadable_without_decoding(encoding: str) -> None:
    with pytest.raises(ApiError) as raised:
        bodies.Decoder({"content-encoding": encoding})
    assert raised.value.kind is ErrorKind.UNREADABLE and "not asked for" in raised.value.message


def test_a_body_its_encoding_does_not_describe_is_unreadable() -> None:
    decoder = bodies.Decoder({"content-encoding": "gzip"})
    with pytest.raises(ApiError) as raised:
        list(decoder.feed(b"this is not gzip"))
    assert raised.value.kind is ErrorKind.UNREADABLE


def test_the_recorder_keeps_one_byte_past_the_limit_of_a_bomb() -> None:
    kept = bodies.decoded_prefix(gzip_bomb(64), {"Content-Encoding": "gzip"}, 1000)
    assert kept == b'{"pad": "' + b" " * (1001 - 9)


# --- a wrong key: every waiter resolves, every time --------------------------------------------------------


BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "hostile_bench.py"


def test_a_wrong_key_ends_fifty_runs_in_a_row_on_the_dialects_it_hung_on() -> None:
    """benchmarks/hostile_bench.py's loop, cut to 50 runs of the two dialects the hang was seen on
    (the other dialects get their own deterministic tests here); the script kills a run that
    outlives 60 s and reports the hang."""
    apis = "anthropic,openai-responses"
    ran = subprocess.run(
        [sys.executable, str(BENCH), "--only", "wrong-key", "--runs", "50", "--hang-after", "60", "--apis", apis],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count("50 runs (both modes), none hung") == 2, ran.stdout


def test_a_200_mib_gzip_bomb_peaks_under_150_mb_with_and_without_record(capsys: pytest.CaptureFixture[str]) -> None:
    """Peak RSS of a run whose gate is answered and whose every later probe is a 200 MiB bomb
    (eight in flight at once; more than the bound, held whole or once), measured by
    benchmarks/hostile_bench.py, each run in a fresh process of its own (the script's own part,
    starting them, runs here)."""
    spec = importlib.util.spec_from_file_location("hostile_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ok = bench.bomb_peaks(mib=200, limit_mb=150, cases=["later"], mode="sync")
    printed = capsys.readouterr().out
    assert ok, printed
    assert printed.count("peak RSS") == 2, printed


def test_the_tool_chain_never_waits_on_a_gate_that_stopped_the_run() -> None:
    """The hang as it happened: the chain's first step comes back in the same instant the gate's
    refusal cancels it, and the cancel is lost (asyncio.wait_for before 3.12 did that); the
    chain then waited forever for `opened`. Here the chain's step ignores the cancel on purpose."""

    class Client:
        async def generate(self, model: str, request: Request, *, name: str = "", **_: object) -> Exchange:
            exchange = Exchange(attempts=1)
            if name.endswith("-Text"):
                exchange.error = ApiError(ErrorKind.AUTH, "invalid key", status=401)
                return exchange
            try:
                await asyncio.sleep(0)
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                pass  # swallowed, as wait_for did when its answer was already there
            exchange.error = ApiError(ErrorKind.AUTH, "invalid key", status=401)
            return exchange

        def redact(self, text: str) -> str:
            return text

    async def go() -> ModelProber:
        prober = ModelProber(Client(), load_battery(), "p", ModelConfig(id="m"))  # type: ignore[arg-type]
        await asyncio.wait_for(prober.probe(("sync",)), 30)
        return prober

    # The refused key ends the model's modes (saved, every verdict unknown); its provider stops after.
    assert isinstance(asyncio.run(go()).key_refused, ProviderStopped)


def test_a_cancel_that_meets_the_answer_is_never_swallowed() -> None:
    """The request's deadline runs in the caller's task: a cancel that arrives in the instant its
    answer does still cancels the caller (where asyncio.wait_for returned the answer instead)."""
    outcomes = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        cancelled: list[bool] = []

        def answer(request: httpx.Request) -> httpx.Response:
            # Cancel the request's task in the next turn, while its answer is being handed back.
            loop.call_soon(lambda: cancelled.append(task.cancel()))
            return httpx.Response(200, json=WIRES["openai"].answer(1))

        client = ProviderClient(get_dialect("openai", "http://x.invalid/v1"), httpx.MockTransport(answer), timeout=30)
        task = asyncio.ensure_future(client.generate("m", HI))
        try:
            await task
            outcomes.append("answered")
        except asyncio.CancelledError:
            outcomes.append("cancelled")
        # A cancel that was accepted (True) must have cancelled the task.
        assert cancelled == [False] or task.cancelled(), (cancelled, outcomes)

    asyncio.run(go())
    assert outcomes


# --- end to end: the command line on every dialect ---------------------------------------------------------


def answer_with(wire: Wire, case: str, stream: bool) -> Canned:
    json_headers = {"Content-Type": "application/json"}
    if case == "wrong-key":
        return Canned(401, json_headers, b'{"error": {"message": "invalid key"}}')
    if case == "redirect":
        return Canned(301, {"Location": "https://moved.invalid/api"}, b"")
    if case == "gzip-bomb":
        return Canned(200, {**json_headers, "Content-Encoding": "gzip"}, gzip_bomb(64))
    if case == "envelope-in-200":
        if stream:
            return Canned(200, {"Content-Type": "text/event-stream"}, stream_bytes(wire, [("", wire.envelope)]))
        return Canned(200, json_headers, json.dumps(wire.envelope).encode())
    count: Any = -26_000_000 if case == "negative-usage" else "3"
    if stream:
        return Canned(200, {"Content-Type": "text/event-stream"}, stream_bytes(wire, wire.streamed(count)))
    return Canned(200, json_headers, json.dumps(wire.answer(count)).encode())


#: The case, and what it must end with: the exit status, Text's outcome, and a word of its reason.
END_TO_END = {
    "wrong-key": (1, "error", "HTTP 401"),
    "redirect": (1, "error", "redirected to https://moved.invalid/api"),
    "envelope-in-200": (1, "error", "verloaded"),
    "gzip-bomb": (1, "error", "reply too large"),
    "negative-usage": (0, "pass", "Hello."),
    "string-usage": (0, "pass", "Hello."),
}


# Cases whose exit status has the same cause share a run in each mode: one provider per dialect and
# case, each with its own base path on one server, which answers by that path. The causes: a probe
# left without an answer (exit 1, and each case shows its own part: its Text outcome "error"), a
# refused key, which stops its provider only (exit 1, from the stop itself), every reply judged
# (exit 0).

#: The run a case shares: its exit status and whether the provider stops (a refused key).
Batch = tuple[int, bool]


def batch_of(case: str) -> Batch:
    return END_TO_END[case][0], case == "wrong-key"


def provider_of(api: str, case: str) -> str:
    return f"{api}-{case}"


@dataclass
class HostileRun:
    directory: Path
    ran: Result


def run_hostile(directory: Path, mode: str, cases: list[tuple[str, str]]) -> HostileRun:
    """One recorded run of the command line in `mode`, a provider per (dialect, case)."""
    stream = mode == "stream"

    def answer(request: RecordedRequest) -> Canned:
        api, case = request.path.split("/")[1:3]
        return answer_with(WIRES[api], case, stream)

    with FakeOpenAI(answer) as server:
        root = server.base_url.removesuffix("/v1")
        # A small reply limit: the bomb answers every probe, and each is inflated only up to the limit.
        limits = {"max_retries": 0, "timeout": 10, "max_reply_bytes": 65536}
        providers = {
            provider_of(api, case): {"api": api, "api_key_env": "HOSTILE_KEY", **limits, "models": ["m"], **WIRES[api].config(f"{root}/{api}/{case}/v1")}
            for api, case in cases
        }
        cfg = write_providers(directory, providers)
        selected = [option for name in providers for option in ("-p", name)]
        ran = CliRunner().invoke(
            app,
            ["run", *selected, "--mode", mode, "--config", str(cfg), "--out", str(directory / "out"), "--record", str(directory / "rec")],
            env={"HOSTILE_KEY": KEY, "HOSTILE_ACCOUNT": "acct"},
        )
    return HostileRun(directory, ran)


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], HostileRun]:
    """The run of a case's batch in a mode, made when a case of it first asks."""
    runs: dict[tuple[str, Batch], HostileRun] = {}

    def of(mode: str, case: str) -> HostileRun:
        key = mode, batch_of(case)
        if key not in runs:
            cases = [(api, c) for api in APIS for c in sorted(END_TO_END) if batch_of(c) == batch_of(case)]
            runs[key] = run_hostile(tmp_path_factory.mktemp("hostile"), mode, cases)
        return runs[key]

    return of


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
@pytest.mark.parametrize("case", sorted(END_TO_END))
@pytest.mark.parametrize("api", APIS)
def test_every_dialect_ends_a_hostile_run_with_the_right_verdict_and_exit_status(
    hostile_runs: Callable[[str, str], HostileRun], api: str, case: str, stream: bool
) -> None:
    status, outcome, reason = END_TO_END[case]
    mode = "stream" if stream else "sync"
    run = hostile_runs(mode, case)
    ran, name = run.ran, provider_of(api, case)
    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.output
    assert ran.exit_code == status, ran.output
    assert KEY not in ran.output
    result = results_file.load(run.directory / "out" / f"{name}.json")
    model = result.model("m")
    if case == "wrong-key":
        # The provider stops with one message; the model's mode is saved unmeasured and left to --resume.
        assert f"{name}: authentication failed" in ran.output
        assert model is not None and set(model.modes[mode].verdicts.values()) == {"unknown"}
        assert [row[0] for row in result.incomplete] == ["m"]
        return
    assert model is not None
    text = next(e for e in model.modes[mode].probes if e.probe == "Text")
    assert text.outcome == outcome and reason in text.reason, text
    if outcome == "error":
        assert set(model.modes[mode].verdicts.values()) <= {"unknown"}, model.modes[mode].verdicts
    else:
        assert model.modes[mode].verdicts["reportTokenUsage"] == "false"
        assert all((e.tokens_in or 0) >= 0 and (e.tokens_out or 0) >= 0 for e in model.modes[mode].probes)
