"""The local provider's battery on one slot against several, side by side in one run.

Starts llama.cpp's server (llmprobe.local_server, as the launcher does) once per setting, then runs
`llmprobe run --provider local` against each in turn, `--rounds` times, each at a concurrency equal to
its slots, and prints the wall times, their ratio, and whether both settings gave the same verdicts
(greedy decoding: batching the slots must not change an answer). Needs the `[local]` extra; fetches
the model on first use like a run does.

Run: python benchmarks/local_slots.py [--slots 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

# Runnable from a checkout without installing the package.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmprobe.config import load_config  # noqa: E402
from llmprobe.launcher import local_server  # noqa: E402


def with_slots(command: tuple[str, ...], slots: int) -> tuple[str, ...]:
    """The shipped command with its --parallel value replaced."""
    argv = list(command)
    argv[argv.index("--parallel") + 1] = str(slots)
    return tuple(argv)


def probe(base_url: str, concurrency: int, out: Path) -> tuple[float, dict]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "llmprobe", "run", "--provider", "local", "--config", str(REPO / "providers.yaml"),
         "--base-url", base_url, "--concurrency", str(concurrency), "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
    )
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"llmprobe run failed ({done.returncode}): {done.stderr.strip()}")
    model = json.loads((out / "local.json").read_text())["models"][0]
    return wall, {mode: result["verdicts"] for mode, result in model["modes"].items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    shipped = load_config(REPO / "providers.yaml").providers["local"]
    assert shipped.launch is not None
    settings = (1, args.slots)
    walls: dict[int, list[float]] = {n: [] for n in settings}
    verdicts: dict[int, list[dict]] = {n: [] for n in settings}
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            urls = {}
            for n in settings:
                # A port of its own: nothing may answer at the shipped base_url, or it would be reused.
                launch = replace(shipped.launch, command=with_slots(shipped.launch.command, n))
                provider = replace(shipped, base_url="http://127.0.0.1:9/v1", launch=launch)
                urls[n] = await stack.enter_async_context(local_server(provider, Path(tmp) / f"log-{n}"))
            for i in range(args.rounds):
                for n in settings if i % 2 == 0 else reversed(settings):
                    wall, seen = await asyncio.to_thread(probe, urls[n], n, Path(tmp) / f"out-{n}-{i}")
                    walls[n].append(wall)
                    verdicts[n].append(seen)
    for n in settings:
        times = ", ".join(f"{w:.1f}" for w in walls[n])
        print(f"{n} slot(s), concurrency {n}: {times} s (median {statistics.median(walls[n]):.1f} s)")
    print(f"{args.slots} slots / 1 slot: {statistics.median(walls[args.slots]) / statistics.median(walls[1]):.2f}")
    same = all(v == verdicts[1][0] for n in settings for v in verdicts[n])
    print("verdicts: the same in every run" if same else "verdicts: DIFFER between runs")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
