"""Surviving real networks and real users: pacing, refused keys, unknown models,
interruption and resume, secrets, and bad input — each a clear line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from conftest import default_sigint
from llmprobe import results_file
from llmprobe.cli import app
from llmprobe.client import ProviderClient
from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.learned_rate import INCREASE
from llmprobe.neutral import Message, RateLimit, Request
from llmprobe.pacing import Pacer
from support.clock import FakeClock, send
from support.configs import write_providers
from support.fake_openai import FakeOpenAI, RecordedRequest, Scripted, json_response
from support.passing_provider import EXPECTED_VERDICTS, PassingProvider, wire_answer

KEY = "sk-live-PLANTED0123456789abcdefghijklmnopqrstuv"


def write_config(tmp: Path, base_url: str, models: list[str], *, key: bool = True) -> Path:
    provider: dict = {"api": "openai", "base_url": base_url, "concurrency": 2, "models": models}
    if key:
        provider["api_key_env"] = "FAKE_API_KEY"
    return write_providers(tmp, {"fake": provider})


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"FAKE_API_KEY": KEY})


# --- pacing ---------------------------------------------------------------------------------


def test_the_pacer_spends_a_nearly_used_window_at_its_refill_rate_per_key():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    first = send(pacer, "m")
    # 2 of 30 left, full again in 1.4 s: 20 requests a second come back.
    pacer.observe("m", first, [RateLimit("requests", 30, 2, 1.4)])
    tickets = [send(pacer, "m") for _ in range(3)]
    assert tickets == [2, 3, 4]
    # Two went out unseen by that answer; the third waited for one request's refill.
    assert clock.slept == [pytest.approx(0.05)]
    send(pacer, "other")
    assert len(clock.slept) == 1, "another model's budget is its own"
    # Older news (the answer to ticket 1 again) cannot undo what a newer answer said.
    pacer.observe("m", 4, [RateLimit("requests", 30, 0, 1.5)])
    pacer.observe("m", 1, [RateLimit("requests", 30, 30, 1.5)])
    for ticket in range(1, 5):
        pacer.release("m", ticket)
    send(pacer, "m")
    assert clock.slept[1:] == [pytest.approx(1.5 / 30)]
    pacer.observe("m", 5, [RateLimit("tokens", 6000, 100, 432.0)])
    send(pacer, "m")
    assert clock.slept[2] == pytest.approx(60.0)  # the token window asks 432 s; a pause is capped at a minute


def test_answers_out_of_the_order_the_provider_counted_them_never_raise_the_estimate():
    """Four sent together; the provider counted them 1, 3, 4, 2 (3, 2, 1, 0 left) but the
    answers came back 1, 3, 4, 2: the last news (1 left, then 2) is older than the 0."""
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    tickets = [send(pacer, "m") for _ in range(4)]
    for ticket, left in [(1, 3), (3, 0), (4, 1), (2, 2)]:
        pacer.observe("m", tickets[ticket - 1], [RateLimit("requests", 120, left, 60.0)])
        pacer.release("m", tickets[ticket - 1])
    # Nothing left, 2 a second come back: the next request waits half a second, not none.
    send(pacer, "m")
    assert clock.slept == [pytest.approx(0.5, abs=0.02)]


def test_a_ticket_sent_after_a_later_one_is_not_counted_by_that_later_answer():
    """Tickets are handed out before a slot is taken, and the slots serve the best request
    first: ticket 2 went out after ticket 3, so the answer to 3 has not counted it."""
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    first = send(pacer, "m")
    pacer.observe("m", first, [RateLimit("requests", 30, 2, 1.4)])
    pacer.release("m", first)
    held, ahead = asyncio.run(pacer.acquire("m")), asyncio.run(pacer.acquire("m"))
    pacer.sending("m", ahead)
    pacer.observe("m", ahead, [RateLimit("requests", 30, 1, 1.4)])
    pacer.release("m", ahead)
    pacer.sending("m", held)
    # 1 left after `ahead`, and `held` went out after it: nothing to spare until a refill.
    send(pacer, "m")
    assert clock.slept == [pytest.approx(1.4 / 29)]


def test_after_a_429_one_request_goes_when_the_wait_ends_then_the_others_at_the_rate_it_implies():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    first = send(pacer, "m")
    # Groq's request headers: one request back every 6 s of a 14400 a day quota, no rate to keep.
    pacer.observe("m", first, [RateLimit("requests", 14400, 14399, 6.0)])
    pacer.release("m", first, admitted=True)
    late = send(pacer, "m")  # still in flight when the 429 comes
    refused = send(pacer, "m")
    assert clock.slept == [], "a day's quota is spent, not spread over the day"
    pacer.throttled("m", refused, 0.5)
    pacer.release("m", refused)
    probe = send(pacer, "m")
    assert clock.slept == [pytest.approx(0.5)], "the wait asked for, not the 6 s the quota's refill implies"
    # The late answer went out before the 429: its success says nothing of the rate the 429 set.
    pacer.release("m", late, admitted=True)
    pacer.release("m", probe, admitted=True)
    send(pacer, "m")
    send(pacer, "m")
    # One request per wait asked, spaced as the rate stood when each went: faster once an answer succeeded.
    assert clock.slept[1:] == [pytest.approx(0.5), pytest.approx(0.5 / (1 + INCREASE))]


def test_requests_waiting_for_a_key_go_out_best_first_and_one_task_sleeps_for_them():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)

    async def scenario() -> list[str]:
        first = await pacer.acquire("m")
        pacer.sending("m", first)
        # Spent, refilling at 10 a second: each waiter needs 0.1 s more than the one before.
        pacer.observe("m", first, [RateLimit("requests", 10, 0, 1.0)])
        order: list[str] = []

        async def wait(label: str, priority: tuple[int, ...]) -> None:
            await pacer.acquire("m", priority)
            order.append(label)

        await asyncio.gather(wait("later model", (-1, 0)), wait("chain", (0, 3)), wait("independent", (0, 0)))
        return order

    assert asyncio.run(scenario()) == ["chain", "independent", "later model"]
    # One sleeper, for one refill at a time: not three waking together three times.
    assert clock.slept == [pytest.approx(0.1)] * 3


def test_a_429_holds_its_model_for_the_exact_wait_and_not_the_others():
    refused = json_response(
        {"error": {"message": "Rate limit reached for model `m`. Please try again in 0.2s.", "code": "rate_limit_exceeded"}},
        status=429,
        headers={"retry-after": "1"},
    )
    throttled = {"m": [refused]}

    def script(request: RecordedRequest) -> Scripted:
        pending = throttled.get(request.json["model"])
        return pending.pop(0) if pending else wire_answer(request.json, 0.0)

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    async def go():
        async with httpx.AsyncHTTPTransport() as transport:
            client = ProviderClient(OpenAIDialect(server.base_url), transport, concurrency=2, sleep=sleep)
            ask = Request((Message.user("Say hello."),))
            m = asyncio.create_task(client.generate("m", ask))
            await asyncio.sleep(0.05)  # m's first answer (the 429) is in
            n = await client.generate("n", ask)
            return await m, n

    with FakeOpenAI(script) as server:
        m, n = asyncio.run(go())
        order = [request.json["model"] for request in server.requests]
    assert m.ok and m.attempts == 2 and n.ok
    # The message's 0.2 s, not the header's whole second; and model n went out while m waited.
    assert slept == [pytest.approx(0.2, abs=0.02)]
    assert order == ["m", "n", "m"]


# --- refused keys and unknown models --------------------------------------------------------


def test_a_refused_key_stops_the_provider_at_once(tmp_path):
    refused = json_response({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}, status=401)
    with FakeOpenAI(lambda request: refused) as server:
        cfg = write_config(tmp_path, server.base_url, ["a", "b", "c"])
        result = invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path / "out"))
        sent = len(server.requests)
    assert result.exit_code == 1
    assert "fake: authentication failed (HTTP 401: Invalid API Key (invalid_api_key)); check FAKE_API_KEY" in result.output
    assert result.output.count("authentication failed") == 1
    assert sent <= 12, "Text and SquareRoot-1 (beside it) per model and mode at most, not thirty probes"
    assert "Traceback" not in result.output


def test_an_unknown_model_is_skipped_with_one_message_and_the_others_probed(tmp_path):
    gone = json_response(
        {"error": {"message": "The model `gone` does not exist", "type": "invalid_request_error", "code": "model_not_found"}},
        status=404,
    )

    def for_gone(request: RecordedRequest) -> bool:
        """A request abandoned once its model is known gone may arrive cut off after its headers,
        with no body to name a model: counted as gone's, so the bound below stays strict."""
        return request.json is None or request.json["model"] == "gone"

    with FakeOpenAI(lambda r: gone if for_gone(r) else wire_answer(r.json, 0.0)) as server:
        cfg = write_config(tmp_path, server.base_url, ["gone", "here"])
        result = invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path / "out"))
        asked_gone = sum(map(for_gone, server.requests))
    assert result.exit_code == 1
    assert "fake: model 'gone' not found (HTTP 404: The model `gone` does not exist (model_not_found))" in result.output
    # Text and SquareRoot-1 (which goes out beside it) of each mode, and nothing more.
    assert asked_gone <= 4
    saved = results_file.load(tmp_path / "out" / "fake.json")
    assert [m.id for m in saved.models] == ["here"]
    assert saved.model("here").modes["sync"].verdicts == EXPECTED_VERDICTS
    assert saved.incomplete == [("gone", False)]


# --- interruption and resume ----------------------------------------------------------------


def test_ctrl_c_keeps_finished_models_and_resume_finishes_the_rest(tmp_path):
    models = [f"m{i}" for i in range(6)]
    out = tmp_path / "out"
    # Slow enough that the others are still running when the first model is finished; the
    # resumed run needs no pace.
    with PassingProvider(latency=0.05) as server:
        cfg = write_config(tmp_path, server.base_url, models, key=False)
        command = [sys.executable, "-m", "llmprobe", "run", "-p", "fake", "--config", str(cfg), "--out", str(out)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint
        )
        deadline = time.monotonic() + 60
        while True:  # until at least one model is finished, and some are not
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
            try:
                partial = results_file.load(out / "fake.json")
            except results_file.ResultsError:
                partial = None
            if partial is not None and partial.models:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 130, output
        assert "--resume" in output and "Traceback" not in output
        interrupted = results_file.load(out / "fake.json")
        finished = [m.id for m in interrupted.models]
        assert finished and interrupted.incomplete
        unfinished = [model_id for model_id, _ in interrupted.incomplete]
        assert sorted(finished + unfinished) == models
        requests_before = len(server.requests)
        server.latency = 0.0
        # Only the interruption needs a process of its own (a real SIGINT); the resumed run is this one's.
        resumed = CliRunner().invoke(app, [*command[3:], "--resume"])
        assert resumed.exit_code == 0, resumed.output
        probed_again = {r.json["model"] for r in server.requests[requests_before:]}
    assert probed_again == set(unfinished)
    complete = results_file.load(out / "fake.json")
    assert [m.id for m in complete.models] == models and complete.incomplete == []
    for model in complete.models:
        assert all(mode.verdicts == EXPECTED_VERDICTS for mode in model.modes.values())
    # The models finished before the interruption kept their results untouched.
    for model_id in finished:
        assert complete.model(model_id) == interrupted.model(model_id)


def test_an_interrupted_child_gets_ctrl_c_even_when_pytest_ignores_it():
    command = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under `trap '' INT` or in a background job
    try:
        inherited = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        restored = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=default_sigint).stdout
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (inherited, restored) == ("False\n", "True\n")


def test_resume_with_nothing_left_sends_nothing(tmp_path):
    with PassingProvider(latency=0.0) as server:
        cfg = write_config(tmp_path, server.base_url, ["m0"], key=False)
        assert invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path)).exit_code == 0
        before = len(server.requests)
        assert invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path), "--resume").exit_code == 0
        assert len(server.requests) == before


def test_resume_asks_again_a_model_whose_gate_got_no_answer(tmp_path):
    """A model whose every verdict is unknown because its Text got no answer (a 503 here) is not
    finished: --resume asks it again, and only it."""
    down = {"m0"}

    def answering(request: RecordedRequest) -> Scripted:
        if request.json.get("model") in down:
            return json_response({"error": {"message": "overloaded, try again later", "type": "server_error"}}, status=503)
        return wire_answer(request.json, 0.0)

    with FakeOpenAI(answering) as server:
        provider = {"api": "openai", "base_url": server.base_url, "max_retries": 0, "models": ["m0", "m1"]}
        cfg = write_providers(tmp_path, {"fake": provider})
        assert invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path)).exit_code == 1
        first = results_file.load(tmp_path / "fake.json")
        assert set(first.model("m0").modes["sync"].verdicts.values()) == {"unknown"}
        sent = len(server.requests)
        down.clear()
        again = invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path), "--resume")
        assert again.exit_code == 0, again.output
        assert {r.json["model"] for r in server.requests[sent:]} == {"m0"}
    resumed = results_file.load(tmp_path / "fake.json")
    assert resumed.model("m0").modes["sync"].verdicts == EXPECTED_VERDICTS
    assert resumed.model("m1") == first.model("m1")


# --- secrets ---------------------------------------------------------------------------------


def test_a_planted_key_appears_in_no_file_and_no_output_even_verbose(tmp_path):
    def echoing(request: RecordedRequest) -> Scripted:
        # A provider that quotes the credentials back in its errors (some do).
        if "response_format" in request.json:
            message = f"bad request for {request.headers.get('authorization')}"
            return json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=400)
        return wire_answer(request.json, 0.0)

    with FakeOpenAI(echoing) as server:
        cfg = write_config(tmp_path, server.base_url, ["m0"])
        result = invoke("run", "-p", "fake", "-v", "--config", str(cfg), "--out", str(tmp_path / "out"), "--record", str(tmp_path / "rec"))
    assert result.exit_code == 0, result.output
    assert "bad request for Bearer REDACTED" in result.output  # the echo happened, redacted
    assert KEY not in result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 20
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path


# --- bad input ------------------------------------------------------------------------------


def test_an_unreadable_results_file_stops_run_and_render_before_anything_is_sent(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "fake.json").write_text("{ not json")
    with FakeOpenAI(lambda r: wire_answer(r.json, 0.0)) as server:
        cfg = write_config(tmp_path, server.base_url, ["m0"])
        ran = invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path / "out"))
        assert server.requests == []
    assert ran.exit_code == 2
    expected = f"llmprobe: error: {tmp_path / 'out' / 'fake.json'}: not valid JSON (line 1: Expecting property name enclosed in double quotes)\n"
    assert ran.output == expected
    rendered = invoke("render", "--config", str(cfg), "--out", str(tmp_path / "out"))
    assert (rendered.exit_code, rendered.output) == (2, expected)


def test_a_results_file_of_the_wrong_shape_is_refused(tmp_path):
    (tmp_path / "fake.json").write_text(json.dumps({"provider": "fake", "models": []}))
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1", ["m0"])
    rendered = invoke("render", "--config", str(cfg), "--out", str(tmp_path))
    assert rendered.exit_code == 2
    assert rendered.output == f"llmprobe: error: {tmp_path / 'fake.json'}: not an llmprobe results file: missing 'generated_at'\n"


def test_a_cassette_of_another_question_leaves_its_probe_not_recorded(tmp_path):
    with PassingProvider(latency=0.0) as server:
        cfg = write_config(tmp_path, server.base_url, ["m0"], key=False)
        assert invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path / "a"), "--record", str(tmp_path / "rec")).exit_code == 0
    cassette = tmp_path / "rec" / "fake" / "m0" / "sync-Seed.yaml"
    cassette.write_text(cassette.read_text().replace('"seed":42', '"seed":7'))
    replayed = invoke("run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path / "b"), "--replay", str(tmp_path / "rec"))
    assert replayed.exit_code == 1, replayed.output
    seed = next(p for p in results_file.load(tmp_path / "b" / "fake.json").models[0].modes["sync"].probes if p.probe == "Seed")
    assert seed.outcome == "error"
    assert seed.reason.startswith("not_recorded: request #1 of fake/m0/sync-Seed asks another question than ")
    assert seed.reason.endswith("seed is 42, recorded 7")


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "-p", "nope"], "llmprobe: error: unknown provider 'nope' in {cfg} (configured: fake)"),
        (["run", "-p", "fake", "--mode", "async"], "llmprobe: error: --mode 'async': use sync, stream or both"),
        (["render", "--layout", "wide"], "llmprobe: error: --layout 'wide': use detailed or compact"),
        (["render", "--format", "pdf"], "llmprobe: error: --format 'pdf': use markdown, terminal, json or html"),
    ],
)
def test_bad_command_lines_are_one_line(tmp_path, args, message):
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1", ["m0"])
    result = invoke(*args, "--config", str(cfg), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.output == message.format(cfg=cfg) + "\n"


def test_a_daily_quota_is_spent_not_spread_over_the_day():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    first = asyncio.run(pacer.acquire("m"))
    pacer.observe("m", first, [RateLimit("requests", 100, 1, 7786.5)])
    for _ in range(5):
        asyncio.run(pacer.acquire("m"))
    assert clock.slept == []
