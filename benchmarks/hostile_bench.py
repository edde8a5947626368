"""Two hostile cases measured: a wrong key run again and again (it must never hang), and the
peak memory of a run whose replies are a 512 MiB gzip bomb (it must stay under 150 MB).

- wrong key: `llmprobe run` against a local server answering 401 to everything (`timeout: 3`,
  `max_retries: 0`), --runs times for every dialect, both modes. Each run has --hang-after
  seconds to end; one that does not is a hang, and the script stops there with exit 1.
- gzip bomb: `llmprobe run` (both modes) in a fresh process per case, against a local server
  whose replies inflate to 512 MiB (about 0.5 MB on the wire): every reply a bomb, or the gate
  answered and every later probe a bomb (they then arrive eight at a time); each with and
  without --record. Prints the process's peak RSS (VmHWM) next to a run of plain answers.

Exits 1 when a run hangs or a peak passes --max-rss-mb.

Run: python benchmarks/hostile_bench.py [--runs 300] [--hang-after 30] [--bomb-mib 512] [--max-rss-mb 150]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from typer.main import get_command  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from llmprobe.cli import app  # noqa: E402
from llmprobe.dialects import DIALECTS  # noqa: E402
from support.configs import write_providers  # noqa: E402
from support.fake_openai import Canned, FakeOpenAI  # noqa: E402
from support.hostile_wire import WIRES  # noqa: E402

REFUSED = Canned(401, {"Content-Type": "application/json"}, b'{"error": {"message": "invalid key"}}')

#: Built once, as a process running `llmprobe` builds it: CliRunner.invoke builds it from the app at
#: every call, which costs about as much CPU as a refused run itself.
COMMAND = get_command(app)


def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """`llmprobe ARGS` in this process, in CliRunner's isolation: its exit status and output."""
    with CliRunner().isolation(env=env) as (_, _, output):
        try:
            COMMAND.main(args=args, prog_name="llmprobe")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, output.getvalue().decode("utf-8", "replace")


@contextmanager
def watchdog(seconds: float, message: str) -> Iterator[None]:
    """The command runs in the main thread (it sets a signal handler); a run that outlives
    `seconds` is a hang, reported and ended here with the whole process."""
    finished = threading.Event()

    def watch() -> None:
        if not finished.wait(seconds):
            # Not print(): the command's runner holds sys.stdout meanwhile.
            os.write(sys.__stdout__.fileno(), f"{message}\n".encode())
            os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    try:
        yield
    finally:
        finished.set()


def wrong_key_loop(runs: int, hang_after: float, apis: list[str]) -> bool:
    """True when every run ended (with exit status 1 and the refusal said)."""
    ok = True
    with FakeOpenAI(lambda request: REFUSED) as server, tempfile.TemporaryDirectory() as tmp:
        for api in apis:
            provider = {"api": api, "api_key_env": "BENCH_KEY", "max_retries": 0, "timeout": 3, "models": ["m"]}
            cfg = write_providers(Path(tmp), {"bench": {**provider, **WIRES[api].config(server.base_url)}})
            started = time.perf_counter()
            for run in range(runs):
                args = ["run", "-p", "bench", "--config", str(cfg), "--out", str(Path(tmp) / "out")]
                with watchdog(hang_after, f"{api}: run {run + 1} did not end within {hang_after:g}s: HANG"):
                    code, output = invoke(args, env={"BENCH_KEY": "sk-wrong", "HOSTILE_ACCOUNT": "acct"})
                if code != 1 or "authentication failed" not in output:
                    print(f"{api}: run {run + 1} ended with exit {code}: {output[-300:]}")
                    ok = False
            print(f"wrong key, {api}: {runs} runs (both modes), none hung, {time.perf_counter() - started:.1f} s")
    return ok


BOMB_RUN = textwrap.dedent(
    """
    import json, sys, tempfile
    from pathlib import Path
    sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
    from typer.testing import CliRunner
    from support.configs import write_providers
    from support.fake_openai import Canned, FakeOpenAI
    from support.passing_provider import wire_answer
    from llmprobe.cli import app

    bomb, case, record, mode = Path(sys.argv[2]).read_bytes(), sys.argv[3], sys.argv[4] == "record", sys.argv[5]
    BOMB = Canned(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, bomb)

    def answer(request):
        body = request.json or {}
        # The gate (Text) asks for one word with nothing else set.
        gate = set(body) <= {"model", "messages", "stream", "stream_options"} and "Say hello" in json.dumps(body)
        if case == "plain" or (case == "later" and gate):
            return wire_answer(body, 0.0)
        return BOMB

    with FakeOpenAI(answer) as server, tempfile.TemporaryDirectory() as tmp:
        cfg = write_providers(Path(tmp), {"bomb": {"api": "openai", "base_url": server.base_url, "api_key_env": "K",
                                                   "max_retries": 0, "timeout": 30, "models": ["m"]}})
        args = ["run", "-p", "bomb", "--mode", mode, "--config", str(cfg), "--out", tmp + "/out"]
        args += ["--record", tmp + "/rec"] if record else []
        ran = CliRunner().invoke(app, args, env={"K": "sk-x"})
        modes = json.loads((Path(tmp) / "out" / "bomb.json").read_text())["models"][0]["modes"]
        verdicts = [v for m in modes.values() for v in m["verdicts"].values()]
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) // 1024
    print(json.dumps({"peak_mb": peak, "exit": ran.exit_code, "bomb_kb": len(bomb) // 1024,
                      "unknown": verdicts.count("unknown"), "verdicts": len(verdicts)}))
    """
)


def gzip_bomb(mib: int) -> bytes:
    """`mib` MiB of spaces in JSON, gzipped (about 1 KiB per MiB). Run-length matching (Z_RLE) is all
    a run of one byte needs: it compresses to the same bytes as a full search, with less work."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16, 9, zlib.Z_RLE)
    block = b" " * (1 << 20)
    bomb = deflate.compress(b'{"pad": "') + b"".join(deflate.compress(block) for _ in range(mib)) + deflate.compress(b'"}')
    return bomb + deflate.flush()


def bomb_peaks(mib: int, limit_mb: int, cases: list[str], mode: str) -> bool:
    """Each run in a process of its own (its VmHWM is the run's peak), every one answered with the
    same bomb, built here once and handed over as a file."""
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        bomb = Path(tmp) / "bomb.gz"
        bomb.write_bytes(gzip_bomb(mib))
        for case in cases:
            for record in ("no-record", "record"):
                command = [sys.executable, "-c", BOMB_RUN, str(ROOT), str(bomb), case, record, mode]
                ran = subprocess.run(command, capture_output=True, text=True, timeout=600)
                if ran.returncode != 0:
                    print(f"bomb {case} {record}: failed\n{ran.stderr[-2000:]}")
                    return False
                figures = json.loads(ran.stdout.strip().splitlines()[-1])
                sent = f"{mib} MiB bomb ({figures['bomb_kb']} KiB sent)"
                what = "plain answers (reference)" if case == "plain" else f"{sent}, {case} replies"
                over = case != "plain" and figures["peak_mb"] >= limit_mb
                ok = ok and not over
                print(
                    f"{what}, {record}: peak RSS {figures['peak_mb']} MB (target < {limit_mb}), exit {figures['exit']}, "
                    f"{figures['unknown']} of {figures['verdicts']} verdicts unknown ({mode})" + ("  MISSED" if over else "")
                )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="wrong-key runs per dialect")
    parser.add_argument("--apis", default=",".join(sorted(DIALECTS)), help="the dialects of the wrong-key runs")
    parser.add_argument("--hang-after", type=float, default=30.0, help="seconds after which a run counts as hung")
    parser.add_argument("--bomb-mib", type=int, default=512, help="what the bomb inflates to, MiB")
    parser.add_argument("--max-rss-mb", type=int, default=150, help="the peak RSS target")
    parser.add_argument("--only", choices=["bomb", "wrong-key"], help="one of the two measurements")
    parser.add_argument("--cases", default="plain,all,later", help="bomb cases: plain (the reference), all, later")
    parser.add_argument("--mode", default="both", choices=["sync", "stream", "both"], help="the bomb runs' --mode")
    options = parser.parse_args()
    ok = True
    if options.only != "wrong-key":
        ok = bomb_peaks(options.bomb_mib, options.max_rss_mb, options.cases.split(","), options.mode)
    if options.only != "bomb":
        ok = wrong_key_loop(options.runs, options.hang_after, options.apis.split(",")) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
