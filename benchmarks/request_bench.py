"""What one request costs llmprobe in CPU, live and with --record, side by side in one run.

A fake OpenAI-compatible provider (probe_bench's, in a process of its own so its CPU is
not counted) answers every probe at once. The battery runs through llmprobe's own
`run_jobs`, both modes, on `--models` models, with an API key, so every body, URL and
header goes through redaction as it does for a real provider. The two kinds of run
alternate for `--rounds` rounds (the machine's load then weighs on both alike), and
the median of each is printed with the ratio between them:

- live: what every run pays (the HTTP stack, the dialect, the verdicts, the results file);
- --record: the same run writing every exchange to its cassette, as scheduled CI runs do.

Targets: live under TARGET_LIVE_MS, --record at most TARGET_RECORD_RATIO times live; exits 1
when one is missed, when a run's verdicts are not the ones the fake scripts, or when a recorded
cassette does not load back.

Run: python benchmarks/request_bench.py [--models 10] [--rounds 3] [--only live|record]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

# Runnable from a checkout; the fake provider is the test suite's.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from probe_bench import MODES, ProviderProcess, Report, scored_as_scripted  # noqa: E402
from rich.console import Console  # noqa: E402

from llmprobe.cassettes import load_cassette  # noqa: E402
from llmprobe.config import ProviderConfig  # noqa: E402
from llmprobe.jobs import plan_job, run_jobs, tls_context  # noqa: E402
from llmprobe.progress import RunProgress  # noqa: E402
from llmprobe.results_file import load  # noqa: E402
from support.passing_provider import passing_provider_config  # noqa: E402

#: A key shaped like OpenAI's project keys: redaction looks for it, and every piece of it, everywhere.
API_KEY = "sk-proj-" + "Bench0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-xyzT3BlbkFJ"
KINDS = ("live", "record")
#: speed_bench.py's target for a whole run, here for the requests alone.
TARGET_LIVE_MS = 3.0
TARGET_RECORD_RATIO = 2.25


@dataclasses.dataclass
class Measured:
    cpu_ms_per_request: float
    requests: int
    scripted: bool
    cassettes: int


def run_once(provider: ProviderConfig, work: Path, record: bool) -> Measured:
    """One `llmprobe run` of every model of `provider`, both modes; the CPU of the run alone."""
    job = dataclasses.replace(plan_job(provider, [], None, replay=None), api_key=API_KEY)
    cassettes = work / "cassettes" if record else None
    progress = RunProgress(Console(file=StringIO()))
    cpu = time.process_time()
    asyncio.run(run_jobs([job], MODES, work / "out", cassettes, None, 8, progress))
    cpu = time.process_time() - cpu
    scripted = scored_as_scripted(load(work / "out" / f"{provider.name}.json"))
    loaded = [load_cassette(path) for path in cassettes.rglob("*.yaml")] if cassettes else []
    return Measured(cpu / progress.requests * 1000, progress.requests, scripted, len(loaded))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10, help="models of the fake provider")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each kind, alternating")
    parser.add_argument("--only", choices=KINDS, help="one kind of run only (to profile it)")
    args = parser.parse_args()
    kinds = (args.only,) if args.only else KINDS
    tls_context()  # paid once per process, before any clock starts
    runs: dict[str, list[Measured]] = {kind: [] for kind in kinds}
    with ProviderProcess(0.0) as base_url, tempfile.TemporaryDirectory(prefix="request-bench-") as tmp:
        provider = passing_provider_config(base_url, args.models)
        run_once(provider, Path(tmp) / "warm-up", record=True)  # imports and first-use costs, uncounted
        for round_ in range(args.rounds):
            for kind in kinds:
                runs[kind].append(run_once(provider, Path(tmp) / f"{kind}-{round_}", record=kind == "record"))

    report = Report()
    print(f"{args.models} models x {len(MODES)} modes, {args.rounds} round(s), answered at once")
    medians = {kind: statistics.median(m.cpu_ms_per_request for m in measured) for kind, measured in runs.items()}
    for kind, measured in runs.items():
        figures = ", ".join(f"{m.cpu_ms_per_request:.2f}" for m in measured)
        report.line(f"{kind}: CPU per request (ms)", f"{medians[kind]:.2f}", f"median of {figures}")
    if "live" in medians:
        live = medians["live"]
        report.line("live CPU per request", f"{live:.2f} ms", f"< {TARGET_LIVE_MS:g} ms", live < TARGET_LIVE_MS)
    if len(medians) == len(KINDS):
        ratio = medians["record"] / medians["live"]
        report.line("record / live", f"{ratio:.2f}", f"<= {TARGET_RECORD_RATIO:g}", ratio <= TARGET_RECORD_RATIO)
    every = [m for measured in runs.values() for m in measured]
    report.line("requests per run", "/".join(sorted({str(m.requests) for m in every})))
    wrong = [kind for kind, measured in runs.items() if not all(m.scripted for m in measured)]
    report.line("verdicts as the fake scripts them", ", ".join(wrong) or "all runs", "all runs", not wrong)
    if "record" in runs:
        loaded = [m.cassettes for m in runs["record"]]
        report.line("cassettes loaded back per recorded run", "/".join(map(str, sorted(set(loaded)))), "> 0", min(loaded) > 0)
    return report.exit_status()


if __name__ == "__main__":
    sys.exit(main())
