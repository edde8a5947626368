"""A scripted OpenAI-compatible server on 127.0.0.1, for tests and fixed-latency benchmarks.

Each request is answered by the next entry of a script (or by a callable), and
each entry says exactly what goes on the wire, byte by byte and pause by pause,
so a test can produce what real providers do on a bad day: a 429 with
Retry-After, a proxy's HTML 502, a connection dropped before or during the
answer, a stream cut half-way, a slow first byte.

    with FakeOpenAI([json_response(completion("Hello."))]) as server:
        httpx.post(f"{server.base_url}/chat/completions", json={...})
        server.requests[0].json  # what the client sent

A streamed body is sent with chunked transfer encoding, so a `DROP` inside it is
a real transport failure (the terminating chunk never comes), while a stream that
merely lacks `data: [DONE]` ends cleanly at the HTTP level.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Drop:
    """Close the connection at this point: as a whole scripted answer, before any
    byte of the status line; inside a streamed body, without finishing it."""


DROP = Drop()


@dataclass(frozen=True)
class Pause:
    """Wait this long before sending the next piece of a streamed body."""

    seconds: float


@dataclass(frozen=True)
class Wait:
    """Hold a streamed body until `event` is set, at most `timeout` seconds: the body's pace then
    follows the client (it read the first chunk, it went away) instead of the clock.
    `FakeOpenAI.waited` records whether each wait saw its event or timed out."""

    event: threading.Event
    timeout: float


#: One piece of a streamed body: bytes or text sent (and flushed) as one chunk, a pause, a wait, or a drop.
Step = bytes | str | Pause | Wait | Drop


@dataclass(frozen=True)
class Canned:
    """One scripted HTTP answer.

    `body` as bytes is sent whole with a Content-Length; as a sequence of steps
    it is sent chunk by chunk. `delay` is waited before the status line, which
    makes it the latency (and time to first byte) a benchmark sees.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Sequence[Step] = b""
    delay: float = 0.0


Scripted = Canned | Drop


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    #: Header names lower-cased.
    headers: Mapping[str, str]
    body: bytes
    #: The client's source port: requests sharing it came over one kept-alive connection.
    client_port: int

    @property
    def json(self) -> Any:
        """The body decoded as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class FakeOpenAI:
    """Context manager running the server in a daemon thread on a free port."""

    def __init__(self, script: Sequence[Scripted] | Callable[[RecordedRequest], Scripted], *, port: int = 0) -> None:
        """`port` 0 takes a free one; a fixed one is for a server someone else told where to listen."""
        self._script = script if callable(script) else list(script)
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        #: One entry per `Wait` step that ended: True when its event came, False when it timed out.
        self.waited: list[bool] = []
        self._server = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval makes shutdown, hence every test using the server, quick.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        """Like a provider's: the API root that `/chat/completions` and `/models` hang off."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, request: RecordedRequest) -> Scripted:
        with self._lock:
            self.requests.append(request)
            if callable(self._script):
                return self._script(request)
            if not self._script:
                # Loud enough for the test to notice, in the format its code under test reads.
                return json_response({"error": {"message": "fake server: script exhausted"}}, status=599)
            return self._script.pop(0)


class _QuietServer(ThreadingHTTPServer):
    """Dropped connections are this fake's business (fault injection, clients leaving a stream
    early): no traceback for them, which CliRunner would otherwise capture into a test's output."""

    # A run of several providers opens dozens of connections at once; the default backlog of 5
    # drops some, which the client rightly sees as a transport failure.
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, as real providers use
        timeout = 10  # an idle keep-alive connection never holds a thread for long

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # test output stays readable

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = RecordedRequest(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
                self.client_address[1],
            )
            answer = server._answer(request)
            if isinstance(answer, Drop):
                self.close_connection = True
                return
            time.sleep(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if isinstance(answer.body, bytes):
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for step in answer.body:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                    continue
                if isinstance(step, Wait):
                    server.waited.append(step.event.wait(step.timeout))
                    continue
                if isinstance(step, Drop):
                    self.close_connection = True
                    return
                data = step.encode() if isinstance(step, str) else step
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


# --- builders for the usual answers -------------------------------------------------


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Canned:
    return Canned(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode())


def sse_response(
    events: Iterable[dict | str | Pause | Drop], *, done: bool = True, headers: Mapping[str, str] | None = None
) -> Canned:
    """A streamed answer: a dict becomes one `data:` event, a string goes out verbatim
    (comments, `event:` lines, deliberately broken data), then `data: [DONE]` unless
    `done` is False."""
    steps: list[Step] = [f"data: {json.dumps(e)}\n\n" if isinstance(e, dict) else e for e in events]
    if done:
        steps.append("data: [DONE]\n\n")
    return Canned(200, {"Content-Type": "text/event-stream", **(headers or {})}, tuple(steps))


def completion(text: str, *, finish_reason: str = "stop", prompt_tokens: int = 5, completion_tokens: int = 2) -> dict:
    """A minimal non-streamed chat completion."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chunk(content: str | None = None, *, finish_reason: str | None = None, usage: dict | None = None) -> dict:
    """One streamed chunk; with `usage` and no content or finish reason it is OpenAI's
    final usage-only chunk, whose `choices` is empty."""
    body: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion.chunk"}
    if content is None and finish_reason is None and usage is not None:
        body["choices"] = []
    else:
        delta = {"content": content} if content is not None else {}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    if usage is not None:
        body["usage"] = usage
    return body
