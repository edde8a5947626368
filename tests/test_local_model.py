"""The embedded `local` provider: llama.cpp's own server (xllamacpp) with SmolLM2-135M, probed end to end.

The real-server tests need the `[local]` extra, and the network once, for the model (fetched into
llmprobe's cache on first use). `.ci/run` sets LLMPROBE_REQUIRE_LOCAL=1 so that there they fail
instead of skipping when the extra is missing. The replay test runs
everywhere, from the cassettes recorded by such a run (tests/cassettes/local).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import default_sigint
from llmprobe import results, results_file
from llmprobe.cli import app

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "providers.yaml"
CASSETTES = REPO / "tests" / "cassettes"
MODEL = "SmolLM2-135M-Instruct"

_have_local = importlib.util.find_spec("xllamacpp") is not None
if os.environ.get("LLMPROBE_REQUIRE_LOCAL") and not _have_local:
    raise RuntimeError("LLMPROBE_REQUIRE_LOCAL is set but the [local] extra is not installed")
real_server = pytest.mark.skipif(not _have_local, reason="the [local] extra (xllamacpp) is not installed")


def llmprobe(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmprobe", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


def evidence(mode: results.ModeResult, probe: str) -> results.Evidence:
    return next(e for e in mode.probes if e.probe == probe)


def assert_real_outcomes(model: results.ModelResult) -> None:
    """What this server and model really do, the same in both modes."""
    assert set(model.modes) == {"sync", "stream"}
    for name, mode in model.modes.items():
        v = mode.verdicts
        assert evidence(mode, "Text").outcome == "pass", name
        # The schema becomes a grammar the sampler follows: the reply cannot break it.
        assert (v["json"], v["jsonSchema"]) == ("true", "true"), name
        # tool_choice "required" is ignored: plain text, no call, and no call with auto either.
        assert evidence(mode, "Tools-SquareRoot-1").outcome == "fail", name
        assert (v["tools"], v["toolCallRequired"]) == ("false", "false"), name
        # Tempted to break a schema, the reply cannot: enforced. No call is ever made: of the accuracy
        # suite's three replies, only the one where no call is wanted is right.
        assert (v["jsonSchemaStrict"], v["toolAccuracy"], str(mode.rates["toolAccuracy"])) == ("true", "flaky", "1/3"), name
        assert (v["seed"], v["maxTokens"], v["stopSequence"], v["topLogprobs"]) == ("true",) * 4, name
        # A message of several text parts is read: the model answers, and cites nothing.
        citations = evidence(mode, "Citations")
        assert (citations.outcome, citations.status, v["citations"]) == ("fail", 200, "false"), name
        assert v["reportRateLimits"] == "false", name
        assert (v["reportFinishReason"], v["reportTokenUsage"]) == ("true", "true"), name
        # No vision model: refused with the server's own error envelope, unsupported rather than a crash.
        image = evidence(mode, "Image-png-Inline")
        assert (image.outcome, image.status) == ("unsupported", 500), name
    assert "image" not in model.in_


@real_server
def test_local_run_then_render(tmp_path):
    run = llmprobe("run", "--provider", "local", "--config", str(CONFIG), "--out", "out", "--record", "cassettes", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert_real_outcomes(results_file.load(tmp_path / "out" / "local.json").model(MODEL))
    assert (tmp_path / "out" / "local-server.log").stat().st_size > 0
    page = CliRunner().invoke(app, ["render", "--config", str(CONFIG), "--out", str(tmp_path / "out")], env={"NO_COLOR": "1"})
    assert page.exit_code == 0, page.stderr
    summary_row = next(line for line in page.stdout.splitlines() if line.startswith("| [local]"))
    assert "🏠" in summary_row
    model_row = next(line for line in page.stdout.splitlines() if line.startswith(f"| {MODEL}"))
    assert "🥉" in model_row  # the first (and only) cheap model of its list
    assert not server_processes(tmp_path)


def server_processes(marker: Path) -> list[int]:
    """Local servers started from `marker` (by their parent's out dir is not possible once the
    parent is gone, so by command line and working directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if b"llmprobe.local_server" in cmdline and cwd == str(marker):
            pids.append(int(proc.name))
    return pids


def start_run_and_wait_for_server(tmp_path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "llmprobe", "run", "--provider", "local", "--config", str(CONFIG), "--out", "out"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )
    # Mid-run: the server has loaded the model and is decoding the run's first request (llama.cpp
    # logs each request it takes), so the interruption lands while requests are in flight.
    log = tmp_path / "out" / "local-server.log"
    deadline = time.monotonic() + 120
    while not log.exists() or b"processing task" not in log.read_bytes() or not server_processes(tmp_path):
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "the local server never took a request"
        time.sleep(0.1)
    return process


def wait_gone(tmp_path: Path, seconds: float = 20) -> list[int]:
    deadline = time.monotonic() + seconds
    while server_processes(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    return server_processes(tmp_path)


@real_server
def test_ctrl_c_mid_run_leaves_no_server_behind(tmp_path):
    process = start_run_and_wait_for_server(tmp_path)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output
    assert wait_gone(tmp_path) == []


@real_server
def test_killed_run_leaves_no_server_behind(tmp_path):
    # SIGKILL runs no cleanup at all: the kernel's parent-death signal must stop the server.
    process = start_run_and_wait_for_server(tmp_path)
    process.kill()
    process.wait(timeout=30)
    assert wait_gone(tmp_path) == []


def test_replay_of_the_recorded_local_run(tmp_path):
    # No server, no extra: the committed cassettes of a real run answer every request.
    run = CliRunner().invoke(app, ["run", "--provider", "local", "--config", str(CONFIG), "--out", str(tmp_path / "out"), "--replay", str(CASSETTES)])
    assert run.exit_code == 0, run.stderr
    replayed = results_file.load(tmp_path / "out" / "local.json").model(MODEL)
    assert_real_outcomes(replayed)
    # SmolLM2 reads no medium: the ➛In cell is 💬 alone, the media ❌ (absent), never ❔.
    assert replayed is not None and set(replayed.in_) == {"text"}
    assert not (tmp_path / "out" / "local-server.log").exists()


@real_server
def test_a_model_llama_cpp_cannot_load_ends_the_server_with_one_line(tmp_path):
    # The launcher shows the last five lines of the server's log when it exits while starting: they
    # must say what failed, not be a traceback (llama.cpp's own logger, a thread of its own, may
    # still write a line or two after ours).
    (tmp_path / "broken.gguf").write_bytes(b"not a model")
    args = ["--model", str(tmp_path / "broken.gguf"), "--alias", MODEL, "--port", "1", "--threads", "1"]
    done = subprocess.run([sys.executable, "-m", "llmprobe.local_server", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    message = "llama.cpp's server did not start: Failed to init server, please check the input params."
    assert message in done.stderr.strip().splitlines()[-5:]
    assert "Traceback" not in done.stderr
