"""Starting and stopping a local model server that llmprobe runs itself.

A provider with a `launch:` block (the embedded `local` one) is served by a
process we start when nothing already answers at its base_url. The server must
never outlive llmprobe: it runs in its own process group, which we terminate on
every exit path (normal end, error, Ctrl-C, SIGTERM), and on Linux the kernel
also sends it SIGTERM if llmprobe dies without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from llmprobe.config import LaunchConfig, ProviderConfig
from llmprobe.errors import LlmprobeError


class LaunchError(LlmprobeError):
    """The local server could not be started (missing package, crash, timeout)."""


def find_model_file(launch: LaunchConfig) -> Path:
    """The model file shipped inside an installed package (no hard-coded path)."""
    try:
        root = resources.files(launch.model_package)
    except ModuleNotFoundError:
        raise LaunchError(
            f"the model package {launch.model_package!r} is not installed; install the extra: pip install -e '.[local]'"
        ) from None
    matches = sorted(Path(str(root)).glob(launch.model_glob))
    if not matches:
        raise LaunchError(f"no file matching {launch.model_glob!r} in package {launch.model_package!r}")
    return matches[0]


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
#: (A shim rather than preexec_fn, which is unsafe once asyncio has started threads.)
_DIE_WITH_PARENT = (
    "import ctypes, os, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
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
    model_path = find_model_file(launch)
    port = free_port()
    base_url = with_port(provider.base_url, port)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{provider.name}-server.log"
    argv = launch.argv(port, str(model_path))
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _DIE_WITH_PARENT, *argv],
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
