"""Is a run as fast as the provider allows? Harder cases than probe_bench.py, side by side.

Each case runs a provider in a process of its own and llmprobe's `run_jobs` in
another fresh process, so the CPU time and peak memory printed are llmprobe's
alone and belong to that case only.

- rate-limited: 9 models, each limited to 120 requests a minute as a bucket of 4
  refilled at 2/s, answers after 100 ms, limits announced the way Groq does
  (`x-ratelimit-*-requests`, reset as a Go duration), and a 429 whose Retry-After is
  rounded up to whole seconds while its message gives the exact wait.
- hidden-daily, hidden-bare, hidden-burst: the same bucket, announced nowhere: the
  request headers carry Groq's daily quota (14400, reset = time to refill the day);
  there are no `x-ratelimit-*` headers at all; they announce a per-minute bucket of 120
  refilled at 2/s while the burst of 4 binds. hidden-tokens: 6000 tokens a minute per
  model (a bucket of 6000 refilled at 100/s, announced in `x-ratelimit-*-tokens`, an
  image costing 1200), the requests bound by nothing but the daily quota. Each with
  the retries a provider has by default (`RateLimitedProvider` has the details).
- groq-replay: the shared Groq recordings (tests/support/fixture_server.py) with 200 ms added
  per request, concurrency 8. Skipped when ../shared is absent.
- scale-50 and scale-500: models that pass everything, 50 ms per request, concurrency 8.

The bound of the replay and scale cases is max(longest chain, requests ÷ concurrency)
× latency; of the rate-limited ones, what the bucket allows the busiest model: its
answered requests (tokens) less the bucket's burst, at the refill, plus one latency.
Targets: wall ≤ 1.15× the bound (1.3× for the hidden-* cases); 429s ≤ 2% of requests
(5% hidden); every verdict as the fake scripts it; llmprobe's CPU
≤ 3 ms per request (start-up excluded: the run alone); completion steady where the
slots are the limit (after any fraction f of the run at least f − 0.15 of the
models are saved, so a killed run keeps most of its work: not asked of the
rate-limited cases, whose models each run at their own rate and can only end
together); peak RSS < 150 MB with 500 models. Exits 1 when a target is missed.

Run: python benchmarks/speed_bench.py [--cases rate-limited,hidden-daily,...] (all by default)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from io import StringIO
from multiprocessing.connection import Connection
from pathlib import Path

from support.fake_openai import Canned, RecordedRequest, Scripted, Step, json_response  # noqa: E402

# Runnable from a checkout; the fake providers are the test suite's.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from probe_bench import MODES, Report, longest_chain, scored_as_scripted  # noqa: E402
from rich.console import Console  # noqa: E402

from llmprobe.config import ProviderConfig, load_config  # noqa: E402
from llmprobe.jobs import plan_job, run_jobs, tls_context  # noqa: E402
from llmprobe.neutral import Exchange  # noqa: E402
from llmprobe.progress import RunProgress  # noqa: E402
from llmprobe.results import ModelResult  # noqa: E402
from llmprobe.results_file import load  # noqa: E402
from support.passing_provider import EXPECTED_VERDICTS, USAGE, PassingProvider, passing_provider_config  # noqa: E402

TARGET_BOUND_RATIO = 1.15
TARGET_THROTTLED_SHARE = 0.02
TARGET_CPU_MS = 3.0
TARGET_STEADINESS = -0.15
TARGET_RSS_MB = 150.0
#: The rate-limited fake: 120 requests a minute per model, in bursts of at most 4.
BUCKET, REFILL, PER_MINUTE = 4, 2.0, 120
#: Every server shuts itself down after this long even if never told to.
SERVER_LIFETIME_SECONDS = 900.0
SHARED_GROQ = ROOT.parent / "shared" / "fixtures" / "groq-2025-08-29"


# --- the providers, each in a process of its own --------------------------------------------------


def go_duration(seconds: float) -> str:
    """Seconds written the way Groq writes durations: "412.5ms", "1.25s", "1m2.5s"."""
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    minutes, rest = divmod(seconds, 60)
    return (f"{int(minutes)}m" if minutes else "") + f"{rest:.3f}s"


#: How a rate-limited fake tells its limits (`RateLimitedProvider`).
STYLES = ("announced", "daily", "bare", "burst", "tokens")
#: The tokens fake: 6000 tokens a minute per model (a bucket of 6000 refilled at 100/s), an attached medium
#: (a picture, a recording, a PDF) 1200 of them.
TOKEN_BUCKET, TOKEN_REFILL, MEDIUM_COST = 6000, 100.0, 1200
#: The content parts that carry a medium in the OpenAI chat wire.
MEDIUM_PARTS = ("image_url", "input_audio", "file")
#: Groq's daily request quota, and the refill its `reset` implies (a day to fill it all).
DAY_QUOTA = 14400


class RateLimitedProvider(PassingProvider):
    """PassingProvider with a request bucket per model of BUCKET refilled at REFILL a second (or, for
    "tokens", a token bucket), enforced like Groq's and told in one of STYLES:

    - announced: `x-ratelimit-*-requests` describe the bucket that binds (limit PER_MINUTE,
      remaining, reset = time to refill as a Go duration).
    - daily: those headers carry the daily quota (what Groq sends); the bucket is announced nowhere.
    - bare: no `x-ratelimit-*` header at all.
    - burst: the headers describe a bucket of PER_MINUTE refilled at REFILL while BUCKET binds
      (a per-minute limit enforced per second).
    - tokens: requests bind nowhere (daily headers); `x-ratelimit-*-tokens` describe a token
      bucket that binds, a medium costing MEDIUM_COST, and the usage reported is the cost.

    Each 429 has a Retry-After rounded up to whole seconds and the exact wait in its message.
    """

    def __init__(self, latency: float, style: str) -> None:
        super().__init__(latency)
        self.style = style
        self._buckets: dict[str, tuple[float, float]] = {}
        #: The announced per-minute bucket of "burst", per model.
        self._minute: dict[str, tuple[float, float]] = {}
        self._bucket_lock = threading.Lock()
        self.throttled = 0
        self.answered: dict[str, int] = {}
        #: Tokens admitted per model ("tokens").
        self.spent: dict[str, int] = {}

    def _cost(self, request: RecordedRequest) -> int:
        content = request.json["messages"][0]["content"]
        media = sum(1 for p in content if p.get("type") in MEDIUM_PARTS) if isinstance(content, list) else 0
        return USAGE["total_tokens"] + MEDIUM_COST * media

    def _scripted(self, request: RecordedRequest) -> Scripted:
        model = str(request.json.get("model"))
        tokens_style = self.style == "tokens"
        capacity, refill = (TOKEN_BUCKET, TOKEN_REFILL) if tokens_style else (BUCKET, REFILL)
        cost = self._cost(request) if tokens_style else 1
        with self._bucket_lock:
            now = time.monotonic()
            level, then = self._buckets.get(model, (float(capacity), now))
            level = min(capacity, level + (now - then) * refill)
            allowed = level >= cost
            minute, minute_then = self._minute.get(model, (float(PER_MINUTE), now))
            minute = min(PER_MINUTE, minute + (now - minute_then) * REFILL)
            if allowed:
                level -= cost
                minute = max(0.0, minute - 1)
                self.answered[model] = self.answered.get(model, 0) + 1
                self.spent[model] = self.spent.get(model, 0) + cost
            else:
                self.throttled += 1
            self._buckets[model] = (level, now)
            self._minute[model] = (minute, now)
            served = self.answered.get(model, 0)
        headers = self._announced(level, minute, served)
        if allowed:
            answer = super()._scripted(request)
            assert isinstance(answer, Canned)
            kept = {k: v for k, v in answer.headers.items() if not k.startswith("x-ratelimit-")}
            body = answer.body
            if tokens_style:
                body = _with_usage(body, cost)
            return dataclasses.replace(answer, headers={**kept, **headers}, body=body)
        with self._gauge:
            self.in_flight += 1
        wait = math.ceil((cost - level) / refill * 1000) / 1000
        what = "tokens per minute (TPM)" if tokens_style else "requests per minute (RPM)"
        limit = TOKEN_BUCKET if tokens_style else PER_MINUTE
        message = (
            f"Rate limit reached for model `{model}` in organization `org_fake` service tier `on_demand` on "
            f"{what}: Limit {limit}, Used {limit}, Requested {cost}. "
            f"Please try again in {go_duration(wait)}. Need more tokens? Upgrade to Dev Tier today."
        )
        error = {"message": message, "type": what.split()[0], "code": "rate_limit_exceeded"}
        return json_response({"error": error}, status=429, headers={**headers, "retry-after": str(math.ceil(wait))})

    def _announced(self, level: float, minute: float, served: int) -> dict[str, str]:
        """The `x-ratelimit-*` headers of the style, as of the bucket levels after this request."""
        if self.style == "bare":
            return {}
        if self.style in ("daily", "tokens"):
            # Groq's reset: the time to refill what the day has used, one request every 6 s.
            requests = {
                "x-ratelimit-limit-requests": str(DAY_QUOTA),
                "x-ratelimit-remaining-requests": str(DAY_QUOTA - served),
                "x-ratelimit-reset-requests": go_duration(served * 86400 / DAY_QUOTA),
            }
            if self.style == "daily":
                return requests
            return {
                **requests,
                "x-ratelimit-limit-tokens": str(TOKEN_BUCKET),
                "x-ratelimit-remaining-tokens": str(math.floor(level)),
                "x-ratelimit-reset-tokens": go_duration((TOKEN_BUCKET - level) / TOKEN_REFILL),
            }
        left = level if self.style == "announced" else minute
        return {
            "x-ratelimit-limit-requests": str(PER_MINUTE),
            "x-ratelimit-remaining-requests": str(math.floor(left)),
            # Until the window is whole again, at the refill rate: how Groq's reset reads.
            "x-ratelimit-reset-requests": go_duration((PER_MINUTE - left) / REFILL),
        }


def _with_usage(body: bytes | Sequence[Step], cost: int) -> bytes | tuple[Step, ...]:
    """The passing answer's body with its usage saying `cost` tokens (in the sync body or the last chunk)."""
    usage, spent = json.dumps(USAGE), json.dumps({**USAGE, "prompt_tokens": cost - 4, "total_tokens": cost})
    if isinstance(body, bytes):
        return body.replace(usage.encode(), spent.encode())
    return tuple(step.replace(usage, spent) if isinstance(step, str) else step for step in body)


@dataclass
class ServerStats:
    requests: int = 0
    peak_in_flight: int = 0
    throttled: int = 0
    #: Answered (not throttled) requests per model, where the server limits them.
    answered: dict[str, int] = field(default_factory=dict)
    #: Tokens admitted per model, where the server limits tokens.
    spent: dict[str, int] = field(default_factory=dict)


def serve(kind: str, latency: float, channel: Connection) -> None:
    """Child process: serve until told to stop (or the lifetime runs out), then report what was seen."""
    if kind == "replay":
        from support.fixture_server import NATIVE, FixtureServer, _Handler, _index, _recording, native

        # Read before the clock starts, so each answer takes the latency the bound assumes, not that
        # plus the server's work on first use: the YAML of each cassette (tens of ms for the image
        # ones), the index of model folders, the native dialects' modules its routing imports.
        for cassette in SHARED_GROQ.glob("scoreboard-cassettes/**/Gen*.yaml"):
            _recording(cassette)
        _index(SHARED_GROQ)
        for dialect in NATIVE:
            native(dialect)

        class Slow(_Handler):
            def do_POST(self) -> None:
                time.sleep(latency)
                super().do_POST()

        with FixtureServer(SHARED_GROQ.parent) as fixtures:
            fixtures.RequestHandlerClass = Slow
            channel.send(fixtures.base_url("groq"))
            channel.poll(SERVER_LIFETIME_SECONDS)
            channel.send(ServerStats(len(fixtures.served)))
        return
    with RateLimitedProvider(latency, kind) if kind in STYLES else PassingProvider(latency) as server:
        channel.send(server.base_url)
        channel.poll(SERVER_LIFETIME_SECONDS)
        stats = ServerStats(len(server.requests), server.peak_in_flight)
        if isinstance(server, RateLimitedProvider):
            stats.throttled, stats.answered, stats.spent = server.throttled, server.answered, server.spent
        channel.send(stats)


class ProviderProcess:
    """Starts `serve` in a fresh process; on exit stops it and collects its counts."""

    def __init__(self, kind: str, latency: float) -> None:
        # Spawned, not forked: the child starts clean, with no copy of this process's state.
        context = multiprocessing.get_context("spawn")
        self._channel, child = context.Pipe()
        self._process = context.Process(target=serve, args=(kind, latency, child), daemon=True)
        self.stats = ServerStats()

    def __enter__(self) -> str:
        self._process.start()
        if not self._channel.poll(60):
            self._process.kill()
            raise RuntimeError("the fake provider did not start within 60 s")
        return self._channel.recv()

    def __exit__(self, *exc_info: object) -> None:
        self._channel.send("stop")
        if self._channel.poll(10):
            self.stats = self._channel.recv()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


# --- llmprobe's side, in a process of its own -----------------------------------------------------


@dataclass
class Measured:
    wall: float
    cpu: float
    requests: int
    #: CPU seconds per request from the first answer to the last: start-up and the last save left out.
    steady_cpu: float
    peak_rss_mb: float
    #: Seconds from the start of the run at which each model was saved, in order.
    saved_at: list[float]
    models: int
    chain: int
    as_scripted: bool
    answered: bool
    summary: str


class TimedProgress(RunProgress):
    """RunProgress that also notes when each model is saved, and the CPU time spent between answers."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.saved: list[float] = []
        #: (CPU seconds, requests answered) at the first answer and at the latest one.
        self.first: tuple[float, int] | None = None
        self.latest: tuple[float, int] = (0.0, 0)

    def answered(self, provider: str, model: str, mode: str, probe: str, exchange: Exchange) -> None:
        super().answered(provider, model, mode, probe, exchange)
        self.latest = (time.process_time(), self.requests)
        self.first = self.first or self.latest

    def model_done(self, provider: str) -> Callable[[ModelResult], None]:
        shown = super().model_done(provider)

        def on_model(result: ModelResult) -> None:
            self.saved.append(time.perf_counter())
            shown(result)

        return on_model


def measure(provider: ProviderConfig, concurrency: int, expected: Mapping[str, str]) -> Measured:
    """Child process: one `llmprobe run` of every model of `provider`, both modes, timed.

    The clock starts at the run. What a process pays once, whatever it runs, is paid before: the
    modules httpx imports on its first transport and its first request (httpcore, anyio's asyncio
    backend: about 0.1 s) and the certificate store.
    """
    import anyio
    import httpcore  # noqa: F401

    asyncio.run(anyio.sleep(0))
    tls_context()
    os.environ.setdefault(provider.api_key_env or "UNUSED", "benchmark-key")
    job = plan_job(provider, [], None, replay=None)
    output = StringIO()
    progress = TimedProgress(Console(file=output))
    with tempfile.TemporaryDirectory(prefix="speed-bench-") as out:
        start, cpu = time.perf_counter(), time.process_time()
        answered = asyncio.run(run_jobs([job], MODES, Path(out), None, None, concurrency, progress))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        result = load(Path(out) / f"{provider.name}.json")
    return Measured(
        wall,
        cpu,
        progress.requests,
        steady_cpu(progress),
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        [t - start for t in progress.saved],
        len([m for m in provider.models if m.probe]),
        longest_chain(result),
        scored_as_scripted(result, expected),
        answered,
        output.getvalue().strip().splitlines()[-1] if output.getvalue().strip() else "",
    )


def steady_cpu(progress: TimedProgress) -> float:
    (cpu, requests), (last_cpu, last_requests) = progress.first or (0.0, 0), progress.latest
    return (last_cpu - cpu) / max(last_requests - requests, 1)


def run_case(case: Case) -> tuple[Measured, ServerStats]:
    server = ProviderProcess(case.kind, case.latency)
    with server as base_url:
        provider = case.configure(base_url)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            measured = pool.submit(measure, provider, case.concurrency, case.expected).result()
    return measured, server.stats


# --- cases ----------------------------------------------------------------------------------------


def steadiness(measured: Measured) -> float:
    """The worst of (share of models saved − share of the run elapsed) over the run; ≥ −0.15 is steady.

    Worst just before each save: the share of the run has grown, the saved share not yet.
    """
    if not measured.saved_at or measured.wall <= 0:
        return -1.0
    return min(i / measured.models - t / measured.wall for i, t in enumerate(measured.saved_at))


def passing(base_url: str, models: int, *, retries: int = 0) -> ProviderConfig:
    """The passing fake's provider without the image URL variants: 32 requests a model, as the issue measured.

    `retries` as a shipped provider has them where a 429 must be waited out, not made a verdict.
    """
    return dataclasses.replace(passing_provider_config(base_url, models), image_base_url="", max_retries=retries)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    latency: float
    concurrency: int
    configure: Callable[[str], ProviderConfig]
    #: Verdicts checked against the passing fake's script (not for real recordings).
    scripted: bool = True
    #: Completion steadiness is a target (the slots, not per-model rates, are the limit).
    steady: bool = True
    rss_target: bool = False
    bound_ratio: float = TARGET_BOUND_RATIO
    throttled_share: float = TARGET_THROTTLED_SHARE
    expected: Mapping[str, str] = field(default_factory=lambda: EXPECTED_VERDICTS)


def shipped_retries(base_url: str) -> ProviderConfig:
    """9 passing models with the retries and the rate-limit wait a provider has by default."""
    return passing(base_url, 9, retries=ProviderConfig.max_retries)


def groq_config(base_url: str) -> ProviderConfig:
    """Groq as shipped, but without retries: some requests have no recording to answer them (the
    Markdown Citations, recorded before the reference asked it), and the fixture server's 501 for
    them is an artefact of the replay, not a fault of Groq's worth waiting out."""
    shipped = load_config(ROOT / "providers.yaml").providers["groq"]
    return dataclasses.replace(shipped, base_url=base_url, max_retries=0)


CASES = {
    case.name: case
    for case in (
        Case("rate-limited", "announced", 0.1, 8, shipped_retries, steady=False),
        *(
            Case(name, style, 0.1, 8, shipped_retries, steady=False, bound_ratio=1.3, throttled_share=0.05, expected=expected)
            for name, style, expected in (
                ("hidden-daily", "daily", EXPECTED_VERDICTS),
                # No limits announced: the fake scripts reportRateLimits false.
                ("hidden-bare", "bare", {**EXPECTED_VERDICTS, "reportRateLimits": "false"}),
                ("hidden-burst", "burst", EXPECTED_VERDICTS),
                ("hidden-tokens", "tokens", EXPECTED_VERDICTS),
            )
        ),
        Case("groq-replay", "replay", 0.2, 8, groq_config, scripted=False),
        Case("scale-50", "passing", 0.05, 8, lambda url: passing(url, 50)),
        Case("scale-500", "passing", 0.05, 8, lambda url: passing(url, 500), rss_target=True),
    )
}


def rate_bound(case: Case, stats: ServerStats) -> tuple[float, str]:
    """The busiest model's answered requests (or tokens) at its rate: a burst of BUCKET (TOKEN_BUCKET),
    then REFILL (TOKEN_REFILL) a second, and the last answer's latency; with what it counted."""
    if case.kind == "tokens":
        busiest = max(stats.spent.values(), default=0)
        bound = case.latency + max(0, busiest - TOKEN_BUCKET) / TOKEN_REFILL
        return bound, f"{busiest} tokens of one model at {TOKEN_REFILL:g}/s"
    busiest = max(stats.answered.values(), default=0)
    return case.latency + max(0, busiest - BUCKET) / REFILL, f"{busiest} requests of one model at {REFILL:g}/s"


def report_case(report: Report, case: Case, measured: Measured, stats: ServerStats) -> None:
    name = case.name
    latency, concurrency = case.latency, case.concurrency
    slots_bound = max(measured.chain, measured.requests / concurrency) * latency
    what = f"max({measured.chain}, {measured.requests}/{concurrency}) x {latency:g} s"
    bound = slots_bound
    if case.kind in STYLES:
        limited, what = rate_bound(case, stats)
        bound = max(slots_bound, limited)
    ratio = measured.wall / bound
    report.line(
        f"{name}: wall / bound",
        f"{ratio:.3f}",
        f"<= {case.bound_ratio} ({measured.wall:.2f} s / {bound:.2f} s: {what})",
        ratio <= case.bound_ratio,
    )
    if case.kind in STYLES:
        share = stats.throttled / max(measured.requests, 1)
        report.line(
            f"{name}: 429s",
            f"{stats.throttled}",
            f"<= {case.throttled_share:.0%} of {measured.requests} ({share:.1%})",
            share <= case.throttled_share,
        )
    cpu, steady = measured.cpu / max(measured.requests, 1) * 1000, measured.steady_cpu * 1000
    report.line(
        f"{name}: llmprobe CPU per request",
        f"{steady:.2f} ms",
        f"<= {TARGET_CPU_MS:g} ms at steady state",
        steady <= TARGET_CPU_MS,
    )
    report.line(f"{name}: ... with start-up and the last save", f"{cpu:.2f} ms")
    steady = steadiness(measured)
    first = measured.saved_at[0] / measured.wall if measured.saved_at else 1.0
    target = f">= {TARGET_STEADINESS:g} (first model saved at {first:.0%} of the run)"
    report.line(f"{name}: completion steadiness", f"{steady:+.3f}", target, steady >= TARGET_STEADINESS if case.steady else None)
    rss = measured.peak_rss_mb
    report.line(
        f"{name}: peak RSS",
        f"{rss:.0f} MB",
        f"< {TARGET_RSS_MB:g} MB" if case.rss_target else "",
        rss < TARGET_RSS_MB if case.rss_target else None,
    )
    if case.scripted:
        report.line(
            f"{name}: verdicts as the fake scripts them", "yes" if measured.as_scripted else "NO", "", measured.as_scripted
        )
    else:
        report.line(f"{name}: run summary", "", measured.summary)
    report.line(
        f"{name}: requests seen / sent", f"{stats.requests}/{measured.requests}", "equal", stats.requests == measured.requests
    )
    if case.kind != "replay":
        peak = stats.peak_in_flight
        report.line(f"{name}: most requests in flight at the provider", f"{peak}", f"<= {concurrency}", peak <= concurrency)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    args = parser.parse_args()
    names = [name for name in args.cases.split(",") if name]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    report = Report()
    for name in names:
        case = CASES[name]
        if case.kind == "replay" and not SHARED_GROQ.is_dir():
            print(f"{name}: skipped, {SHARED_GROQ} is absent")
            continue
        measured, stats = run_case(case)
        report_case(report, case, measured, stats)
        sys.stdout.flush()
    return report.exit_status()


if __name__ == "__main__":
    sys.exit(main())
