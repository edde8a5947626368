"""Measuring instead of guessing: repeated trials and their pass rates (`run --repeat`),
latency and throughput from the probes' own requests, token cost and budgets, and `explain`.

Against the test suite's fake providers, so every figure is known in advance.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmprobe import results, results_file, trials
from llmprobe.budget import Price
from llmprobe.capabilities import RATED
from llmprobe.cli import app
from llmprobe.diff import VerdictChange
from llmprobe.results import Rate, Spread, Verdict
from llmprobe.trials import over_trials, wilson_interval
from support.configs import write_providers
from support.fake_openai import FakeOpenAI, Pause, RecordedRequest, Scripted
from support.passing_provider import EXPECTED_VERDICTS, USAGE, PassingProvider, wire_answer

MODEL = "fake/model"


def providers_file(tmp: Path, base_url: str, **fields: object) -> Path:
    provider = {"api": "openai", "base_url": base_url, "max_retries": 0, "models": [MODEL], **fields}
    return write_providers(tmp, {"fake": provider})


def run(tmp: Path, cfg: Path, *args: str):
    return CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(cfg), "--out", str(tmp / "out"), *args])


# --- repeated trials ---------------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    # Reference values of the 95% Wilson score interval.
    assert wilson_interval(7, 10) == (0.397, 0.892)
    assert wilson_interval(10, 10) == (0.722, 1.0)
    assert wilson_interval(0, 10) == (0.0, 0.278)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_verdicts_over_trials() -> None:
    t, f, k, u, x = Verdict.TRUE, Verdict.FALSE, Verdict.FLAKY, Verdict.UNKNOWN, Verdict.INEXPRESSIBLE
    trials = [
        {"json": t, "seed": f, "tools": t, "citations": u, "maxTokens": f, "topLogprobs": x},
        {"json": t, "seed": f, "tools": f, "citations": u, "maxTokens": k, "topLogprobs": x},
        {"json": t, "seed": f, "tools": t, "citations": u, "maxTokens": f, "topLogprobs": x},
        {},  # its gate was refused: no say about the rest
    ]
    verdicts, rates = over_trials(trials)
    # A question the wire cannot carry stays unasked, with no rate: it was never tried.
    assert verdicts == {"json": t, "seed": f, "tools": k, "citations": u, "maxTokens": k, "topLogprobs": x}
    assert {name: str(rate) for name, rate in rates.items()} == {"json": "3/3", "seed": "0/3", "tools": "2/3", "maxTokens": "0/3"}
    # One trial is the verdict itself, with no rate to show.
    assert over_trials([{"json": t}]) == ({"json": t}, {})


class VaryingProvider(FakeOpenAI):
    """Every probe passes, except the JSON probe, whose answer is prose in every other trial."""

    def __init__(self) -> None:
        super().__init__(self._answer_for)
        self._json_asked = itertools.count()
        self._lock_json = threading.Lock()

    def _answer_for(self, request: RecordedRequest) -> Scripted:
        canned = wire_answer(request.json, 0)
        if request.json.get("response_format", {}).get("type") == "json_object":
            with self._lock_json:
                if next(self._json_asked) % 2:
                    return wire_answer({"messages": [{"role": "user", "content": "hi"}]}, 0)
        return canned


def test_repeat_turns_a_varying_answer_into_a_flaky_rate(tmp_path: Path) -> None:
    with VaryingProvider() as server:
        cfg = providers_file(tmp_path, server.base_url)
        result = run(tmp_path, cfg, "--repeat", "4", "--mode", "sync")
        sent = len(server.requests)
    assert result.exit_code == 0, result.output
    mode = results_file.load(tmp_path / "out" / "fake.json").model(MODEL).modes["sync"]
    assert mode.verdicts["json"] is Verdict.FLAKY
    assert (mode.rates["json"].passes, mode.rates["json"].trials) == (2, 4)
    assert mode.rates["json"] == Rate(2, 4, 0.15, 0.85)
    assert str(mode.rates["jsonSchema"]) == "4/4" and mode.verdicts["jsonSchema"] is Verdict.TRUE
    others = {k: str(v) for k, v in mode.verdicts.items() if k != "json"}
    assert others == {k: v for k, v in EXPECTED_VERDICTS.items() if k != "json"}
    # Every probe four times, each request's evidence numbered with its trial.
    assert sent == 4 * len({e.probe for e in mode.probes})
    assert sorted({e.trial for e in mode.probes}) == [1, 2, 3, 4]
    assert [e.trial for e in mode.probes if e.probe == "JSON"] == [1, 2, 3, 4]
    assert [e.outcome for e in mode.probes if e.probe == "JSON"] == ["pass", "fail", "pass", "fail"]
    # The terminal and JSON views show the rate; markdown keeps its emoji alone.
    files = ["--config", str(cfg), "--out", str(tmp_path / "out")]
    shown = CliRunner().invoke(app, ["show", *files])
    assert "💨 2/4" in shown.stdout and "✅ 4/4" in shown.stdout
    markdown = CliRunner().invoke(app, ["render", *files])
    assert "💨" in markdown.stdout and "2/4" not in markdown.stdout
    rendered = json.loads(CliRunner().invoke(app, ["render", "--format", "json", *files]).stdout)
    rates = rendered["providers"][0]["models"][0]["modes"]["sync"]["rates"]
    assert rates["json"] == {"passes": 2, "trials": 4, "low": 0.15, "high": 0.85}


def test_trials_of_one_probe_are_spread_over_time(tmp_path: Path) -> None:
    """Trial k+1 of the gate is only sent once trial k has been answered in full (with the first
    step of the tool chain beside it: one of a trial's first two requests)."""
    with VaryingProvider() as server:
        cfg = providers_file(tmp_path, server.base_url)
        assert run(tmp_path, cfg, "--repeat", "3", "--mode", "stream").exit_code == 0
        bodies = [r.json for r in server.requests]
    gate = next(body for body in bodies if not body.get("tools"))
    gates = [i for i, body in enumerate(bodies) if body == gate]
    assert len(gates) == 3
    per_trial = len(bodies) // 3
    assert [g - g % per_trial for g in gates] == [0, per_trial, 2 * per_trial]
    assert all(g % per_trial <= 1 for g in gates)


def test_a_single_run_writes_no_rates_or_trial_numbers(tmp_path: Path) -> None:
    with VaryingProvider() as server:
        cfg = providers_file(tmp_path, server.base_url)
        assert run(tmp_path, cfg, "--mode", "sync").exit_code == 0
    text = (tmp_path / "out" / "fake.json").read_text()
    # No trial's rate; only a share of checked calls, which is a rate in one trial too (RATED).
    rated = [set(mode.get("rates", {})) for model in json.loads(text)["models"] for mode in model["modes"].values()]
    assert rated and all(names <= RATED for names in rated) and '"trial"' not in text


@pytest.mark.parametrize(
    "capability, old, new, change",
    [
        ("json", (10, 10), (7, 10), "noise"),  # intervals [0.72, 1] and [0.40, 0.89] overlap
        ("json", (10, 10), (2, 10), "worse"),
        ("json", (1, 10), (9, 10), "better"),
        ("toolsBiased", (1, 10), (9, 10), "worse"),  # a fault: more often true is worse
        ("json", (9, 10), (1, 10), "worse"),  # both flaky, yet told apart
    ],
)
def test_diff_compares_rates_by_their_intervals(capability: str, old: tuple[int, int], new: tuple[int, int], change: str) -> None:
    def verdict(passes: int, trials: int) -> Verdict:
        return Verdict.over([True] * passes + [False] * (trials - passes))

    found = VerdictChange("m", "sync", capability, verdict(*old), verdict(*new), trials.rate(*old), trials.rate(*new))
    assert found.change == change


def test_diff_lists_rates_and_noise(tmp_path: Path) -> None:
    def saved(name: str, passes: int) -> Path:
        verdict = Verdict.over([True] * passes + [False] * (10 - passes))
        mode = results.ModeResult(verdicts={"json": verdict}, rates={"json": trials.rate(passes, 10)})
        model = results.ModelResult("m", modes={"sync": mode})
        result = results.ProviderResult("p", "2026-01-01T00:00:00Z", "0", models=[model])
        results_file.save(result, tmp_path / name)
        return tmp_path / name

    noise = CliRunner().invoke(app, ["diff", str(saved("a.json", 10)), str(saved("b.json", 7))])
    assert noise.exit_code == 0
    assert "0 worse, 0 better, 0 unmeasured, 1 within noise" in noise.stdout
    assert "true 10/10" in noise.stdout and "flaky 7/10" in noise.stdout
    worse = CliRunner().invoke(app, ["diff", str(saved("a.json", 10)), str(saved("c.json", 1)), "--json"])
    assert worse.exit_code == 1
    assert json.loads(worse.stdout)["changes"][0] == {
        "model": "m", "mode": "sync", "capability": "json", "old": "true", "new": "flaky",
        "old_rate": "10/10", "new_rate": "1/10", "change": "worse",
    }  # fmt: skip
    assert "do not overlap" in " ".join(CliRunner().invoke(app, ["diff", "--help"]).stdout.split())


# --- latency and throughput ----------------------------------------------------------------

DELAY, GAP = 0.15, 0.10


class SteadyProvider(FakeOpenAI):
    """Every probe passes; every answer starts after DELAY seconds, and a stream's first
    chunk is followed by a GAP before the rest (4 output tokens: 3 after the first)."""

    def __init__(self) -> None:
        super().__init__(self._answer_for)
        # Else each write after the first waits for the client's delayed ACK (~40 ms), which
        # would move the first chunk later than the fake means to send it.
        self._server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]

    def _answer_for(self, request: RecordedRequest) -> Scripted:
        canned = wire_answer(request.json, DELAY)
        if isinstance(canned.body, bytes):
            return canned
        first, *rest = canned.body
        return dataclasses.replace(canned, body=(first, Pause(GAP), *rest))


def test_latency_and_throughput_come_from_the_probes_own_requests(tmp_path: Path) -> None:
    with SteadyProvider() as server:
        cfg = providers_file(tmp_path, server.base_url)
        assert run(tmp_path, cfg).exit_code == 0
        sent = len(server.requests)
    model = results_file.load(tmp_path / "out" / "fake.json").model(MODEL)
    assert sent == sum(len(mode.probes) for mode in model.modes.values())  # not one request more
    sync, stream = model.modes["sync"].speed, model.modes["stream"].speed
    slack = 0.08  # a loaded 2-core machine; never faster than the server allows
    assert "ttft_ms" not in sync and "tokens_per_s" not in sync
    assert DELAY * 1000 <= sync["latency_ms"].median <= (DELAY + slack) * 1000
    assert DELAY * 1000 <= stream["ttft_ms"].median <= (DELAY + slack) * 1000
    assert (DELAY + GAP) * 1000 <= stream["latency_ms"].median <= (DELAY + GAP + slack) * 1000
    assert sync["latency_ms"].p90 >= sync["latency_ms"].median
    assert 3 / (GAP + slack) <= stream["tokens_per_s"].median <= 3 / GAP
    assert stream["latency_ms"].n == len(model.modes["stream"].probes)
    # `show` has them, and `render --columns speed` adds them to the markdown.
    files = ["--config", str(cfg), "--out", str(tmp_path / "out")]
    shown = CliRunner().invoke(app, ["show", *files]).stdout
    assert "Speed" in shown and "First token ms" in shown
    plain = CliRunner().invoke(app, ["render", *files]).stdout
    assert "## Speed" not in plain
    page = CliRunner().invoke(app, ["render", "--columns", "speed", *files]).stdout
    section = page.split("## Speed", 1)[1]
    row = next(line for line in section.splitlines() if "| stream" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:3] == ["fake", MODEL, "stream"]
    assert cells[3] == f"{stream['ttft_ms'].median:.0f} / {stream['ttft_ms'].p90:.0f}"
    assert CliRunner().invoke(app, ["render", "--columns", "cost", *files]).exit_code == 2


def test_spread_is_median_and_nearest_rank_p90() -> None:
    assert trials.spread([float(v) for v in range(1, 11)]) == Spread(5.5, 9.0, 10)
    assert trials.spread([7.0]) == Spread(7.0, 7.0, 1)
    assert trials.spread([]) is None


# --- cost and budget -------------------------------------------------------------------------

#: The passing provider's usage on every answer.
PER_REQUEST = USAGE["prompt_tokens"] + USAGE["completion_tokens"]


def test_tokens_and_cost_per_model_and_in_total(tmp_path: Path) -> None:
    with PassingProvider(latency=0) as server:
        cfg = providers_file(
            tmp_path,
            server.base_url,
            price={"input": 0.5, "output": 2},
            models=[MODEL, {"id": "fake/dear", "price": {"input": 10, "output": 30}}],
        )
        result = run(tmp_path, cfg, "--mode", "sync")
        sent = len(server.requests)
    assert result.exit_code == 0, result.output
    saved = results_file.load(tmp_path / "out" / "fake.json")
    cheap, dear = saved.model(MODEL).cost, saved.model("fake/dear").cost
    per_model = sent // 2
    assert (cheap.tokens_in, cheap.tokens_out) == (per_model * USAGE["prompt_tokens"], per_model * USAGE["completion_tokens"])
    assert cheap.usd == pytest.approx((cheap.tokens_in * 0.5 + cheap.tokens_out * 2) / 1e6)
    assert dear.usd == pytest.approx((dear.tokens_in * 10 + dear.tokens_out * 30) / 1e6)
    assert saved.cost == results.Cost(cheap.tokens_in * 2, cheap.tokens_out * 2, pytest.approx(cheap.usd + dear.usd))
    assert f"fake {MODEL}: done (sync; 14 true, 0 flaky, 3 false, 0 unknown; {cheap})" in result.stderr
    assert saved.cost.usd is not None and f"${saved.cost.usd:.4f}" in result.stderr.splitlines()[-1]


def test_price_is_checked_in_providers_yaml(tmp_path: Path) -> None:
    cfg = providers_file(tmp_path, "http://127.0.0.1:9/v1", price={"input": "cheap", "output": 1})
    result = run(tmp_path, cfg, "--dry-run")
    assert result.exit_code == 2
    assert "providers.fake.price.input: expected a number of dollars per million tokens, got a string" in result.stderr
    cfg = providers_file(tmp_path, "http://127.0.0.1:9/v1", price={"input": 1})
    assert "missing required key 'output'" in run(tmp_path, cfg, "--dry-run").stderr


@pytest.mark.parametrize("budget, requests", [(100, 4), (120, 5)])
def test_budget_stops_before_the_request_that_would_pass_it(tmp_path: Path, budget: int, requests: int) -> None:
    """Every answer uses 24 tokens: a budget of 100 lets 4 requests through (96), 120 lets 5."""
    with PassingProvider(latency=0) as server:
        cfg = providers_file(tmp_path, server.base_url)
        result = run(tmp_path, cfg, "--mode", "sync", "--budget-tokens", str(budget), "--concurrency", "2")
        sent = len(server.requests)
    assert sent == requests
    assert result.exit_code == 1
    assert "budget reached after" in result.stderr and "Traceback" not in result.output
    saved = results_file.load(tmp_path / "out" / "fake.json")
    mode = saved.model(MODEL).modes["sync"]
    answered = [e for e in mode.probes if e.status is not None]
    assert len(answered) == requests and sum(e.tokens_in + e.tokens_out for e in answered) == requests * PER_REQUEST <= budget
    unsent = [e for e in mode.probes if e.status is None]
    assert unsent and all(e.outcome == "error" and e.reason.startswith("budget: not sent") for e in unsent)
    assert Verdict.UNKNOWN in mode.verdicts.values()
    assert saved.incomplete == [(MODEL, False)]  # `run --resume` finishes it


def test_a_budget_too_small_for_anything_sends_nothing_and_keeps_earlier_results(tmp_path: Path) -> None:
    with PassingProvider(latency=0) as server:
        cfg = providers_file(tmp_path, server.base_url)
        assert run(tmp_path, cfg, "--mode", "sync").exit_code == 0
        before = results_file.load(tmp_path / "out" / "fake.json").model(MODEL)
        server.requests.clear()
        result = run(tmp_path, cfg, "--mode", "sync", "--budget-tokens", "5")
        assert server.requests == []
    assert result.exit_code == 1
    after = results_file.load(tmp_path / "out" / "fake.json")
    assert after.model(MODEL).modes == before.modes and after.incomplete == [(MODEL, False)]


def test_budget_usd_needs_prices_and_counts_dollars(tmp_path: Path) -> None:
    cfg = providers_file(tmp_path, "http://127.0.0.1:9/v1")
    result = run(tmp_path, cfg, "--budget-usd", "1")
    assert result.exit_code == 2
    expected = f"--budget-usd needs a price for every model probed; fake/{MODEL} has none (providers.yaml `price:`)"
    assert result.stderr.strip() == f"llmprobe: error: {expected}"
    with PassingProvider(latency=0) as server:
        # $1 per million tokens either way: 24 tokens cost $0.000024, so $0.0001 buys 4 requests.
        cfg = providers_file(tmp_path, server.base_url, price={"input": 1, "output": 1})
        result = run(tmp_path, cfg, "--mode", "sync", "--budget-usd", "0.0001", "--concurrency", "2")
        assert len(server.requests) == 4
    assert result.exit_code == 1


def test_dry_run_counts_requests_and_sends_nothing(tmp_path: Path) -> None:
    with PassingProvider(latency=0) as server:
        cfg = providers_file(tmp_path, server.base_url, price={"input": 1, "output": 2})
        first = run(tmp_path, cfg, "--dry-run", "--repeat", "3")
        assert first.exit_code == 0 and server.requests == []
        assert run(tmp_path, cfg).exit_code == 0
        sent = len(server.requests)
        server.requests.clear()
        second = run(tmp_path, cfg, "--dry-run", "--repeat", "3")
        assert server.requests == []
    per_trial = sent // 2
    assert first.stdout.startswith(f"fake: 1 model(s) x 2 mode(s) x 3 trial(s) x {per_trial} probes = {6 * per_trial} requests")
    assert f"(at most {6 * (per_trial + 2)} with fallbacks and retries)" in first.stdout
    assert first.stdout.rstrip().endswith("tokens unknown until a first run")
    tokens_in, tokens_out = 3 * sent * USAGE["prompt_tokens"], 3 * sent * USAGE["completion_tokens"]
    expected = results.Cost.of(tokens_in, tokens_out, Price(1, 2))
    assert second.stdout.rstrip().endswith(f"; about {expected}, by the previous run's usage")


# --- explain ---------------------------------------------------------------------------------

SECRET = "sk-" + "planted0123456789"


def _curl(command: str, env_key: str = "FAKE_KEY") -> bytes:
    """The command as a user pastes it into a shell, with the key in the environment."""
    environment = {"PATH": os.environ["PATH"], env_key: SECRET}
    done = subprocess.run(["bash", "-c", command], env=environment, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_explain_gives_every_cell_its_evidence_and_a_curl_that_sends_the_same_request(tmp_path: Path) -> None:
    with PassingProvider(latency=0) as server:
        cfg = providers_file(tmp_path, server.base_url, api_key_env="FAKE_KEY")
        files = ["--config", str(cfg), "--out", str(tmp_path / "out")]
        assert CliRunner().invoke(app, ["run", "-p", "fake", *files], env={"FAKE_KEY": SECRET}).exit_code == 0
        sent = {json.dumps(r.json, sort_keys=True) for r in server.requests}
        result = CliRunner().invoke(app, ["explain", "fake", MODEL, "--json", *files])
        assert result.exit_code == 0, result.output
        assert SECRET not in result.stdout and "$FAKE_KEY" in result.stdout
        found = json.loads(result.stdout)
        saved = results_file.load(tmp_path / "out" / "fake.json").model(MODEL)
        assert [m["mode"] for m in found["modes"]] == ["sync", "stream"]
        probes = {}
        for mode in found["modes"]:
            assert [c["column"] for c in mode["cells"]][:4] == ["Mode", "➛In", "Out➛", "JSON"]
            for cell in mode["cells"]:
                for probe in cell["probes"]:
                    probes[(mode["mode"], probe["probe"])] = probe
        # Every probe the run sent is behind some cell, with its recorded outcome.
        assert set(probes) == {(mode, e.probe) for mode, m in saved.modes.items() for e in m.probes}
        assert probes[("sync", "JSON")]["trials"][0]["outcome"] == "pass"
        server.requests.clear()
        for (mode, name), probe in sorted(probes.items()):
            answer = _curl(probe["reproduction"]["curl"])
            request = server.requests[-1]
            assert json.dumps(request.json, sort_keys=True) in sent, (mode, name)  # the run's very request
            assert request.headers["authorization"] == f"Bearer {SECRET}"
            assert request.json["stream"] is (mode == "stream") and (b"data: " in answer) is (mode == "stream")
            if mode == "sync" and name in ("JSON", "Seed", "Tools-SquareRoot-2"):
                text = json.loads(answer)["choices"][0]["message"]["content"]
                assert probe["trials"][0]["reason"] == repr(text)  # the same answer as recorded
    text = CliRunner().invoke(app, ["explain", "fake", MODEL, "--mode", "sync", "--column", "json", *files]).stdout
    assert text.splitlines()[2:4] == ["sync · JSON: ✅", "  verdicts: json true"]
    assert "  JSON: pass: '{\"is_fruit\": true}' · HTTP 200 · " in text and "curl -sS -X POST" in text
    wrong = CliRunner().invoke(app, ["explain", "fake", MODEL, "--column", "Speed", *files])
    assert wrong.exit_code == 2 and "--column 'Speed': the detailed layout has Mode" in wrong.stderr
    missing = CliRunner().invoke(app, ["explain", "fake", "nobody", *files])
    assert missing.exit_code == 2 and "has no results for model 'nobody'" in missing.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_explain_a_recorded_groq_model_and_its_curl_gets_the_recorded_answer(tmp_path: Path) -> None:
    from support.fixture_server import FixtureServer

    groq = "llama-3.1-8b-instant"
    provider = {"api": "openai", "base_url": "https://api.groq.com/openai/v1", "api_key_env": "GROQ_API_KEY", "models": [groq]}
    cfg = write_providers(tmp_path, {"groq": provider})
    files = ["--config", str(cfg), "--out", str(tmp_path / "out")]
    with FixtureServer() as server:
        url = server.base_url("groq")
        ran = CliRunner().invoke(
            app,
            ["run", "-p", "groq", "-m", groq, "--mode", "sync", "--base-url", url, *files],
            env={"GROQ_API_KEY": SECRET},
        )
        assert ran.exit_code in (0, 1), ran.output
        explained = CliRunner().invoke(app, ["explain", "groq", groq, "--json", "--column", "JSON", "--base-url", url, *files])
        found = json.loads(explained.stdout)
        (probe,) = found["modes"][0]["cells"][0]["probes"]
        answer = json.loads(_curl(probe["reproduction"]["curl"], "GROQ_API_KEY"))
    text = answer["choices"][0]["message"]["content"]
    assert probe["trials"][0]["reason"] == repr(" ".join(text.split("\n")).strip())


def test_explain_a_thinking_row_sends_its_reasoning_switch(tmp_path: Path) -> None:
    """A model listed twice: the `reason: true` row's curl switches thinking on, the other's does not."""
    claude = "claude-sonnet-4"
    provider = {
        "api": "anthropic",
        "base_url": "https://api.anthropic.com/v1",
        "api_key_env": "ANTHROPIC_API_KEY",
        "models": [claude, {"id": claude, "reason": True}],
    }
    cfg = write_providers(tmp_path, {"anthropic": provider})
    text = results.Evidence("Text", "pass", "'Hello.'", status=200, latency_ms=12.0, attempts=1)
    rows = [
        results.ModelResult(claude, reason=reason, modes={"sync": results.ModeResult({"json": Verdict.TRUE}, [text])})
        for reason in (False, True)
    ]
    (tmp_path / "out").mkdir()
    saved = results.ProviderResult("anthropic", "2026-01-01T00:00:00Z", "0", models=rows)
    results_file.save(saved, tmp_path / "out" / "anthropic.json")
    files = ["--config", str(cfg), "--out", str(tmp_path / "out"), "--column", "Mode", "--json"]
    for flag, thinking in (("--thinking", True), ("--no-thinking", False)):
        found = CliRunner().invoke(app, ["explain", "anthropic", claude, flag, *files])
        assert found.exit_code == 0, found.output
        curl = json.loads(found.stdout)["modes"][0]["cells"][0]["probes"][0]["reproduction"]["curl"]
        assert ('"thinking":' in curl) is thinking
        assert '-H "x-api-key: $ANTHROPIC_API_KEY"' in curl


def test_explain_says_why_a_probe_was_not_sent(tmp_path: Path) -> None:
    """Each refusal shows as "not sent: <the field the wire lacks>"; a newly expressible option gets its curl."""
    claude = "claude-sonnet-4"
    provider = {"api": "anthropic", "base_url": "https://api.anthropic.com", "api_key_env": "ANTHROPIC_API_KEY", "models": [claude]}
    cfg = write_providers(tmp_path, {"anthropic": provider})
    evidence = [
        results.Evidence("Text", "pass", "'Hello.'", status=200, latency_ms=12.0, attempts=1),
        results.Evidence("Seed", "unsupported", "unsupported option seed: the Messages API has no seed field"),
        results.Evidence("JSONSchema", "pass", '\'{"is_fruit": true}\'', status=200, latency_ms=12.0, attempts=1),
    ]
    verdicts = {"seed": Verdict.INEXPRESSIBLE, "jsonSchema": Verdict.TRUE}
    model = results.ModelResult(claude, modes={"sync": results.ModeResult(verdicts, evidence)})
    (tmp_path / "out").mkdir()
    results_file.save(results.ProviderResult("anthropic", "2026-01-01T00:00:00Z", "0", models=[model]), tmp_path / "out" / "anthropic.json")
    files = ["--config", str(cfg), "--out", str(tmp_path / "out"), "--mode", "sync"]
    text = CliRunner().invoke(app, ["explain", "anthropic", claude, "--column", "Text", *files])
    assert text.exit_code == 0, text.output
    assert "    note: not sent: the Messages API has no seed field" in text.stdout
    assert "verdicts: seed inexpressible" in text.stdout
    schema = CliRunner().invoke(app, ["explain", "anthropic", claude, "--column", "Schema", "--json", *files])
    curl = json.loads(schema.stdout)["modes"][0]["cells"][0]["probes"][0]["reproduction"]["curl"]
    assert '"output_config":{"format":{"type":"json_schema"' in curl


def test_speed_counts_only_answers() -> None:
    """An error's latency, or an empty stream's, says nothing about the model's speed."""
    answered = results.Evidence("Text", "pass", status=200, latency_ms=300.0, ttft_ms=100.0, tokens_out=11, finish_reason="stop")
    empty = results.Evidence("Citations", "fail", status=200, latency_ms=3.0)
    refused = results.Evidence("JSONSchema", "unsupported", status=500, latency_ms=5.0)
    speed = trials.speed_of([answered, empty, refused])
    one = {"ttft_ms": 100.0, "latency_ms": 300.0, "tokens_per_s": 50.0}  # 10 tokens after the first in 0.2 s
    assert speed == {name: Spread(value, value, 1) for name, value in one.items()}
