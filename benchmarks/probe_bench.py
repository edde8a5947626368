"""How close a full run of 10 models gets to its critical-path bound, and what it costs llmprobe.

A fake OpenAI-compatible provider answers every probe correctly after a fixed
latency, in a process of its own so its CPU is not counted as llmprobe's. The
battery then runs through llmprobe's own `run_jobs`, both modes, image URL
variants on:

- at --concurrency (8): wall time against max(longest chain, requests ÷ concurrency) × latency,
  and llmprobe's CPU time per request;
- at concurrency 1, on --sequential-models of the models (the rest would only
  add minutes: a sequential run is exactly linear in its requests);
- recorded as `--record` does, then re-scored from the cassettes as `--replay`
  does, and rendered.

Prints each measurement next to its target; exits 1 when a target is missed.

Run: python benchmarks/probe_bench.py [--latency 0.2] [--concurrency 8] [--sequential-models 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from io import StringIO
from multiprocessing.connection import Connection
from pathlib import Path

# Runnable from a checkout; the fake provider is the test suite's.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rich.console import Console  # noqa: E402

from llmprobe.battery import Role, load_battery  # noqa: E402
from llmprobe.config import ProviderConfig  # noqa: E402
from llmprobe.jobs import plan_job, run_jobs  # noqa: E402
from llmprobe.progress import RunProgress  # noqa: E402
from llmprobe.render import renderer  # noqa: E402
from llmprobe.render.page import Page  # noqa: E402
from llmprobe.results import ProviderResult  # noqa: E402
from llmprobe.results_file import load  # noqa: E402
from support.passing_provider import EXPECTED_VERDICTS, PassingProvider, passing_provider_config, verdicts_by_model  # noqa: E402

MODELS = 10
MODES = ("sync", "stream")
TARGET_BOUND_RATIO = 1.25
TARGET_CPU_MS = 5.0
TARGET_REPLAY_SECONDS = 2.0
#: The render benchmark's target (for 100 models; here there are 10).
TARGET_RENDER_SECONDS = 1.0
#: The fake provider shuts itself down after this long even if never told to.
SERVER_LIFETIME_SECONDS = 600.0
#: The requests of the dependent chain, in the order they are sent (the SquareRoot-2
#: pair and the ToolBias pair are alternatives / siblings: one step each).
CHAIN_STEPS = tuple(
    tuple(probe.name for role in roles for probe in load_battery().with_role(role))
    for roles in ((Role.GATE,), (Role.FORCE,), (Role.FORCE_FALLBACK,), (Role.FOLLOW_UP, Role.FOLLOW_UP_FALLBACK), (Role.BIAS,))
)


# --- the fake provider, in a process of its own ---------------------------------------------------


def serve(latency: float, channel: Connection) -> None:
    """Child process: serve until told to stop (or the lifetime runs out), then report what was seen."""
    with PassingProvider(latency) as server:
        channel.send(server.base_url)
        channel.poll(SERVER_LIFETIME_SECONDS)
        channel.send((len(server.requests), server.peak_in_flight))


@dataclass
class ServerStats:
    requests: int = 0
    peak_in_flight: int = 0


class ProviderProcess:
    """Starts `serve` in a fresh process; on exit stops it and collects its counts."""

    def __init__(self, latency: float) -> None:
        # Spawned, not forked: the child starts clean, with no copy of this process's state.
        context = multiprocessing.get_context("spawn")
        self._channel, child = context.Pipe()
        self._process = context.Process(target=serve, args=(latency, child), daemon=True)
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
            self.stats = ServerStats(*self._channel.recv())
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


# --- runs -----------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    requests: int
    result: ProviderResult

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu / self.requests * 1000


def probe(
    provider: ProviderConfig, out: Path, concurrency: int, *, record: Path | None = None, replay: Path | None = None
) -> Run:
    """One `llmprobe run` of every model of `provider` in both modes, timed."""
    job = plan_job(provider, [], None, replay=replay)
    output = StringIO()
    progress = RunProgress(Console(file=output))
    wall, cpu = time.perf_counter(), time.process_time()
    answered = asyncio.run(run_jobs([job], MODES, out, record, replay, concurrency, progress))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not answered:
        raise SystemExit(f"probe_bench: some requests got no answer:\n{output.getvalue()}")
    return Run(wall, cpu, progress.requests, load(out / f"{provider.name}.json"))


def longest_chain(result: ProviderResult) -> int:
    """Requests of the longest dependent chain actually sent in any model and mode."""
    lengths = [0]
    for model in result.models:
        for mode in model.modes.values():
            sent = {evidence.probe for evidence in mode.probes}
            lengths.append(sum(1 for step in CHAIN_STEPS if sent.intersection(step)))
    return max(lengths)


def scored_as_scripted(result: ProviderResult, expected: Mapping[str, str] = EXPECTED_VERDICTS) -> bool:
    """Every model has both modes, each with exactly the verdicts the fake provider's answers earn."""
    scored = verdicts_by_model(result.models)
    return len(scored) == len(result.models) * len(MODES) and all(found == expected for found in scored.values())


def requests_per_mode(result: ProviderResult) -> list[int]:
    return sorted({len(mode.probes) for model in result.models for mode in model.modes.values()})


# --- report ---------------------------------------------------------------------------------------


class Report:
    """Measurement lines with their targets; remembers which targets were missed."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def line(self, what: str, measured: str, target: str = "", passed: bool | None = None) -> None:
        verdict = "" if passed is None else "ok" if passed else "MISSED"
        print(f"{what:<44} {measured:>10}   {target:<32} {verdict}")
        if passed is False:
            self.missed.append(what)

    def exit_status(self) -> int:
        """1 when a target was missed (named on the last line), else 0: the script's exit status."""
        if self.missed:
            print(f"missed: {'; '.join(self.missed)}")
            return 1
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake provider takes per request")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight in the concurrent runs")
    parser.add_argument(
        "--sequential-models", type=int, default=2, choices=range(1, MODELS + 1), metavar=f"1..{MODELS}",
        help="models in the concurrency-1 run",
    )  # fmt: skip
    args = parser.parse_args()
    latency, concurrency = args.latency, args.concurrency
    print(f"{MODELS} models x {len(MODES)} modes, {latency * 1000:.0f} ms per request, concurrency {concurrency}")
    server = ProviderProcess(latency)
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        work = Path(tmp)
        with server as base_url:
            provider = passing_provider_config(base_url, MODELS)
            concurrent = probe(provider, work / "concurrent", concurrency)
            sequential = probe(passing_provider_config(base_url, args.sequential_models), work / "sequential", 1)
            recorded = probe(provider, work / "recorded", concurrency, record=work / "cassettes")
        # The provider is gone: re-scoring is offline, from the cassettes alone.
        replayed = probe(provider, work / "replayed", concurrency, replay=work / "cassettes")
    render_start = time.perf_counter()
    renderer("markdown")(Page([(provider, replayed.result)]), StringIO())
    render_seconds = time.perf_counter() - render_start

    report = Report()
    chain = longest_chain(concurrent.result)
    bound = max(chain, concurrent.requests / concurrency) * latency
    ratio = concurrent.wall / bound
    report.line("requests per model and mode", "/".join(map(str, requests_per_mode(concurrent.result))))
    report.line("longest dependent chain", f"{chain}")
    report.line("concurrent run: requests", f"{concurrent.requests}")
    report.line("concurrent run: wall time", f"{concurrent.wall:.2f} s")
    report.line("critical-path bound", f"{bound:.2f} s", f"max({chain}, {concurrent.requests}/{concurrency}) x {latency:g} s")
    report.line("wall / bound", f"{ratio:.3f}", f"<= {TARGET_BOUND_RATIO}", ratio <= TARGET_BOUND_RATIO)
    # Concurrency 1 is exactly linear in requests, so a few models give the time of all of them.
    sequential_all = sequential.wall * concurrent.requests / sequential.requests
    per_all = f"{sequential_all:.1f} s for all {MODELS} models"
    report.line(f"sequential run: {sequential.requests} requests", f"{sequential.wall:.2f} s", per_all)
    report.line("concurrent / sequential wall time", f"{concurrent.wall / sequential_all:.3f}", f"ideal 1/{concurrency}")
    cpu = concurrent.cpu_ms_per_request
    report.line("llmprobe CPU per request", f"{cpu:.2f} ms", f"< {TARGET_CPU_MS:g} ms", cpu < TARGET_CPU_MS)
    report.line("recording run (--record): wall time", f"{recorded.wall:.2f} s")
    report.line("recording run: CPU per request", f"{recorded.cpu_ms_per_request:.2f} ms")
    rescore, render = replayed.wall, render_seconds
    report.line("re-score (--replay)", f"{rescore:.2f} s", f"< {TARGET_REPLAY_SECONDS:g} s", rescore < TARGET_REPLAY_SECONDS)
    report.line("render markdown", f"{render * 1000:.1f} ms", f"< {TARGET_RENDER_SECONDS:g} s", render < TARGET_RENDER_SECONDS)

    runs = {"concurrent": concurrent, "sequential": sequential, "recorded": recorded, "replayed": replayed}
    wrong = [name for name, run in runs.items() if not scored_as_scripted(run.result)]
    report.line("verdicts as the fake scripts them", ", ".join(wrong) or "all runs", "all runs", not wrong)
    sent, seen = concurrent.requests + sequential.requests + recorded.requests, server.stats.requests
    report.line("requests seen by the provider / sent", f"{seen}/{sent}", "equal", seen == sent)
    peak = server.stats.peak_in_flight
    report.line("most requests in flight at the provider", f"{peak}", f"<= {concurrency}", peak <= concurrency)
    return report.exit_status()


if __name__ == "__main__":
    sys.exit(main())
