"""Just enough of the Chrome DevTools protocol to test a page in a real headless Chromium.

A library that drives browsers would download its own browser build; this speaks the protocol
to the system's Chromium over one websocket instead, and records what a test asks about:
console errors, uncaught exceptions, and every request the page makes.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

#: Tried in order; LLMPROBE_CHROMIUM names another.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    named = os.environ.get("LLMPROBE_CHROMIUM")
    if named:
        return shutil.which(named) or named
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class Page:
    """One tab; `errors` and `requests` fill in as the page runs."""

    def __init__(self, socket: ClientConnection, session: str) -> None:
        self._socket = socket
        self._session = session
        self._ids = itertools.count(1)
        self.errors: list[str] = []
        self.requests: list[str] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer, recording the events that arrive meanwhile."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        while True:
            answer = json.loads(self._socket.recv(timeout=30))
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._record(answer)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self._record(message)
            if message.get("method") == event:
                return message.get("params", {})

    def _record(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def evaluate(self, expression: str) -> Any:
        """The expression's value (JSON-able); a thrown exception fails the test with its text."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def press(self, key: str) -> None:
        """A real key press, as the keyboard sends it, to whatever has the focus."""
        codes = {"Enter": 13, "Escape": 27, "ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40}
        common = {"key": key, "code": key, "windowsVirtualKeyCode": codes[key]}
        self.send("Input.dispatchKeyEvent", type="rawKeyDown", **common)
        if key == "Enter":
            self.send("Input.dispatchKeyEvent", type="char", text="\r", **common)
        self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path.write_bytes(base64.b64decode(data))


@contextmanager
def chromium(browser: str, profile: Path) -> Iterator[Page]:
    """A headless Chromium with a fresh profile, and one blank tab with the events a test needs."""
    process = subprocess.Popen(
        [
            browser,
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{browser} did not start its DevTools server")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as socket:
            browser_page = Page(socket, session="")
            target = browser_page.send("Target.createTarget", url="about:blank")["targetId"]
            session = browser_page.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            page = Page(socket, session)
            for domain in ("Page", "Runtime", "Log", "Network"):
                page.send(f"{domain}.enable")
            yield page
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One headless Chromium for the module. Without one the tests skip, except in CI, where
    .ci/run installs it and a skip would hide that the page went untested."""
    path = find_browser()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium found in CI (.ci/run installs it; LLMPROBE_CHROMIUM names another)")
        pytest.skip("no Chromium (install the distribution's chromium, or set LLMPROBE_CHROMIUM)")
    with chromium(path, tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


def open_page(page: Page, path: Path, html: str, width: int = 1400) -> float:
    """Load the page fresh, with a clean record of errors and requests; the seconds it took."""
    path.write_text(html, encoding="utf-8")
    page.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=width < 600)
    page.send("Page.navigate", url="about:blank")
    page.wait_for("Page.loadEventFired")
    page.errors.clear()
    page.requests.clear()
    started = time.monotonic()
    page.send("Page.navigate", url=path.as_uri())
    page.wait_for("Page.loadEventFired")
    return time.monotonic() - started
