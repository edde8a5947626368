"""A local HTTP server that answers like the recorded providers did, from their real recordings.

End-to-end tests must run `llmprobe run --base-url ...` against genuine provider
answers, but our probes word their prompts differently and shape some requests
differently (D4, D6) from the reference that recorded the cassettes. Byte-matching
request bodies, the way go-vcr replays, would therefore never hit. Instead each
request is reduced to its probe *kind* (`classify`), which names the cassette
file, and that cassette's recorded status, headers and body are played back, but
only when its request asks the same question (`llmprobe.questions`: same model,
stream flag and question-defining fields); otherwise the answer is 501 "not recorded".

Deliberately not a provider error envelope: when no recording exists for a kind
the server answers 501 in plain text, so the client sees a server failure and the
verdict stays unmeasured instead of turning into "unsupported".
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen

from conftest import FIXTURES
from llmprobe.battery import load_battery
from llmprobe.capabilities import capability
from llmprobe.cassettes import Interaction
from llmprobe.questions import NOT_RECORDED, body_of, difference, question
from support import recorded_anthropic, recorded_gemini, recorded_responses, replaying

FIXTURES_ROOT = FIXTURES

Dialect = Literal["openai", "cloudflare", "anthropic", "gemini", "openai-responses", "ollama", "cohere"]

#: `max_tokens` at or below this marks the MaxTokens probe (it asks for 16); larger
#: values are taken as a client's ordinary default cap, not as a probe.
MAX_TOKENS_PROBE_LIMIT = 32

#: Framing headers describe the recorded transfer, not ours: we send the body whole
#: and uncompressed, with our own Content-Length.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding"})

_EXTENSION_ALIASES = {"jpeg": "jpg", "mpeg": "mp3"}


@dataclass(frozen=True)
class Provider:
    """One recorded provider: where its API lives on this server and where its cassettes are."""

    name: str
    dialect: Dialect
    path_prefix: str
    recordings: str


#: Every recorded provider whose wire format our dialects speak. Each path prefix is the
#: provider's own base path under /<name> (perplexity and deepseek have no `/v1`).
PROVIDERS = {
    p.name: p
    for p in (
        Provider("groq", "openai", "/groq/openai/v1", "groq-2025-08-29"),
        Provider("cerebras", "openai", "/cerebras/v1", "cerebras-2025-09-02"),
        Provider("deepseek", "openai", "/deepseek", "deepseek-2025-09-02"),
        Provider("huggingface", "openai", "/huggingface/v1", "huggingface-2025-09-02"),
        Provider("mistral", "openai", "/mistral/v1", "mistral-2025-09-02"),
        Provider("openaichat", "openai", "/openaichat/v1", "openaichat-2025-09-02"),
        Provider("perplexity", "openai", "/perplexity", "perplexity-2025-09-02"),
        Provider("togetherai", "openai", "/togetherai/v1", "togetherai-2025-09-01"),
        Provider("cloudflare", "cloudflare", "/cloudflare/ai", "cloudflare-2025-09-02"),
        Provider("anthropic", "anthropic", recorded_anthropic.PATH_PREFIX, recorded_anthropic.RECORDINGS),
        Provider(recorded_responses.NAME, "openai-responses", recorded_responses.PATH_PREFIX, recorded_responses.RECORDINGS),
        Provider("ollama", "ollama", "/ollama", "ollama-2025-08-28"),
        Provider("cohere", "cohere", "/cohere", "cohere-2025-09-02"),
    )
}

#: Native dialects' parts (`ENDPOINT`, `classify(body)`, `unknown_model(model)`), one module each.
#: Each native dialect's part of this server (its endpoint under the provider's prefix, classify, unknown_model).
NATIVE = {
    "anthropic": "support.recorded_anthropic",
    "openai-responses": "support.recorded_responses",
    "ollama": "support.recorded_ollama",
    "cohere": "support.recorded_cohere",
}


def native(dialect: str) -> ModuleType:
    """Imported on first use: the modules reuse this one's helpers."""
    return importlib.import_module(NATIVE[dialect])


#: Marks the served kind of a request of a probe the reference never had (tool-call accuracy, schema
#: strictness): no recording can answer it.
BEYOND_REFERENCE = " (beyond the reference)"


@cache
def _beyond_reference() -> tuple[frozenset[str], tuple[frozenset[str], ...], frozenset[str]]:
    """The tool names, the schemas' property names and the prompts of the battery's probes beyond the reference."""
    probes = [p for p in load_battery().probes.values() if p.verdict and not capability(p.verdict).reference]
    tools = frozenset(tool.name for probe in probes for tool in probe.tools)
    schemas = tuple(frozenset(p.options["json_schema"]["properties"]) for p in probes if "json_schema" in p.options)
    return tools, schemas, frozenset(p.prompt for p in probes if p.prompt)


def beyond_reference(body: Any) -> bool:
    """The request offers one of those tools, asks for one of those schemas, or is one of those
    prompts, in any dialect's shape."""
    tools, schemas, prompts = _beyond_reference()
    if isinstance(body, str):
        return body in prompts
    if isinstance(body, Mapping):
        name, properties = body.get("name"), body.get("properties")
        if (isinstance(name, str) and name in tools) or (isinstance(properties, Mapping) and frozenset(properties) in schemas):
            return True
        return any(beyond_reference(value) for value in body.values())
    return isinstance(body, list) and any(beyond_reference(value) for value in body)


def classify(dialect: Dialect, body: Mapping[str, Any]) -> str:
    """The cassette name (without `.yaml`) of the probe this request body is, e.g. `GenSync-Seed`.

    Decided from the request's shape only, never from prompt text. Unambiguous
    shapes come first (tool result, tools, image part), since a probe may carry an
    incidental option but never another probe's tools or picture. Then options,
    most specific first (response_format > stop > logprobs > max tokens > seed).
    The document shape (several text parts) comes last: it is the weakest signal,
    because harnesses add text parts of their own (the reference appended
    "/think" to every qwen request), and the Citations probes send no options.
    """
    if dialect in NATIVE:
        return str(native(dialect).classify(body))
    mode = "GenStream" if body.get("stream") is True else "GenSync"
    messages: list[Mapping[str, Any]] = body.get("messages") or []
    if any(message.get("role") == "tool" for message in messages):
        return f"{mode}-Tools-SquareRoot-2"
    if body.get("tools"):
        return f"{mode}-{_tools_probe(body)}"
    if "web_search_options" in body:
        return f"{mode}-Tools-WebSearch"
    if dialect in ("openai", "cloudflare") and (image := _image_probe(messages)):
        return f"{mode}MultiModal-{image}"
    if option := _option_probe(body):
        return f"{mode}-{option}"
    document = _document(dialect, messages)
    return f"{mode}-{'Text' if document is None else citations(document)}"


def _tools_probe(body: Mapping[str, Any]) -> str:
    functions = {tool.get("function", {}).get("name", ""): tool.get("function", {}) for tool in body["tools"]}
    if "best_country" in functions:
        enum = functions["best_country"].get("parameters", {}).get("properties", {}).get("country", {}).get("enum")
        return f"Tools-ToolBias-{enum[0] if enum else 'none'}"
    if "square_root" in functions:
        choice = body.get("tool_choice")
        # A named-function choice forces the call as surely as "required" does.
        forced = choice == "required" or (isinstance(choice, Mapping) and choice.get("type") == "function")
        return "Tools-SquareRoot-1" if forced else "Tools-SquareRoot-1-any"
    return f"Tools-{next(iter(functions))}"


def _image_probe(messages: list[Mapping[str, Any]]) -> str | None:
    """`<Image|Audio|Video|Document>-<ext>-<Inline|URL>` for the first media part, as the reference named its cassettes."""
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type")
            if kind == "image_url":
                return _media_name("image", part["image_url"]["url"])
            if kind == "file":
                return _media_name("application", part["file"].get("file_data", ""))
            if kind == "document_url":
                return _media_name("application", part["document_url"])
            if kind == "audio_url":
                return _media_name("audio", part["audio_url"]["url"])
            if kind == "input_audio":
                audio = part["input_audio"]
                ext = audio.get("format", "") if isinstance(audio, Mapping) else _sniffed_audio(audio)
                return f"Audio-{_extension(ext)}-Inline"
    return None


#: The reference's cassette names by the part's major MIME type.
_MEDIA_KINDS = {"image": "Image", "audio": "Audio", "video": "Video", "application": "Document"}


def _media_name(kind: str, url: str) -> str:
    if url.startswith("data:"):
        mime = url.removeprefix("data:").split(";", 1)[0].split(",", 1)[0]
        return f"{_MEDIA_KINDS.get(mime.partition('/')[0], 'Document')}-{_extension(mime.rpartition('/')[2])}-Inline"
    return f"{_MEDIA_KINDS[kind]}-{_extension(PurePosixPath(urlsplit(url).path).suffix.removeprefix('.'))}-URL"


def _sniffed_audio(data: str) -> str:
    """Mistral's input_audio is bare base64: its first bytes name the format."""
    head = base64.b64decode(data[:16] + "==="[: -len(data[:16]) % 4])
    magic = ((b"ID3", "mp3"), (b"\xff\xfb", "mp3"), (b"\xff\xf1", "aac"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"RIFF", "wav"))
    return next((ext for prefix, ext in magic if head.startswith(prefix)), "unknown")


def _extension(name: str) -> str:
    name = name.lower()
    return _EXTENSION_ALIASES.get(name, name)


def _document(dialect: Dialect, messages: list[Mapping[str, Any]]) -> object | None:
    """The text of a document sent next to a question (several text parts in one user turn), else None.

    OpenAI keeps them as parts of one message; Cloudflare's string-only content
    turns each part into its own consecutive user message, and so did the reference's
    clients for Cerebras and DeepSeek. The document comes first. (An image would have
    been classified before this is asked.)
    """
    if dialect == "openai":
        for message in messages:
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list):
                texts = [part.get("text") for part in content if part.get("type") == "text"]
                if len(texts) >= 2:
                    return texts[0]
    return next(
        (a.get("content") for a, b in zip(messages, messages[1:], strict=False) if a.get("role") == b.get("role") == "user"),
        None,
    )


def citations(document: object, name: object = "") -> str:
    """Which of the reference's two Citations requests this is: `Citations-text-markdown` when the
    document is the Markdown one (its text opens with a heading, or its name, on the wires that carry
    one, ends in `.md`), else `Citations-text-plain`."""
    markdown = (isinstance(document, str) and document.startswith("#")) or (isinstance(name, str) and name.endswith(".md"))
    return "Citations-text-markdown" if markdown else "Citations-text-plain"


def _option_probe(body: Mapping[str, Any]) -> str | None:
    response_type = (body.get("response_format") or {}).get("type")
    if response_type == "json_object":
        return "JSON"
    if response_type == "json_schema":
        return "JSONSchema"
    if body.get("stop"):
        return "Stop"
    if body.get("logprobs") or body.get("top_logprobs") is not None:
        return "TopLogprobs"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and limit <= MAX_TOKENS_PROBE_LIMIT:
        return "MaxTokens"
    # Mistral names it `random_seed`.
    if body.get("seed", body.get("random_seed")) is not None:
        return "Seed"
    return None


@cache
def _index(recordings: Path) -> dict[str, Path]:
    """Model folder name (relative, `/` kept for namespaced ids) → folder; one walk per provider."""
    root = recordings / "scoreboard-cassettes"
    return {str(path.parent.relative_to(root)): path.parent for path in sorted(root.rglob("Gen*.yaml"))}


@cache
def _cassettes(model_dir: Path) -> frozenset[str]:
    """The cassette file names in one model folder, listed once."""
    return frozenset(path.name for path in model_dir.glob("Gen*.yaml"))


def _recording(path: Path) -> Interaction:
    """The exchange a reference cassette holds (a scoreboard cassette holds one)."""
    return replaying.recorded(path)[0]


def unanswered(dialect: str, body: Mapping[str, Any], cassette: Path, **url: Any) -> str | None:
    """Why `cassette` cannot answer `body` (its request asks another question), or None when it can."""
    recorded = body_of(_recording(cassette).request_body)
    if recorded is None:
        return "the recorded request is not JSON"
    return difference(question(dialect, body, **url), question(dialect, recorded, **url))


def find_cassette(model_dir: Path, kind: str) -> Path | None:
    """The recording that answers `kind`, allowing for how the reference named and sent things.

    - The recordings made before the reference split Citations into `-text-plain` and
      `-text-markdown` (Groq's, Ollama's) name the plain request, the only one they have,
      `Citations`.
    - A forced `SquareRoot-1` is not answered by a recording of an unforced request.
    - `SquareRoot-1-any` is only recorded when forcing failed. Cloudflare has no
      tool_choice field, so there the reference sent SquareRoot-1 and -1-any with
      the identical body, and an unforced request may be answered with the -1
      recording, but only when that recording carried no tool_choice (Groq's was
      forced and its answer would misrepresent an unforced call).
    """
    names = _cassettes(model_dir)
    if f"{kind}.yaml" in names:
        recorded = model_dir / f"{kind}.yaml"
        if kind.endswith("-Tools-SquareRoot-1") and recorded_anthropic.unforced(json.loads(_recording(recorded).request_body)):
            # An unforced answer says nothing of a forced request (Sonnet with thinking on was
            # only asked with `auto`): the server would have answered the forced one itself.
            return None
        return recorded
    if kind.endswith("-Citations-text-plain"):
        unsplit = f"{kind.removesuffix('-text-plain')}.yaml"
        return model_dir / unsplit if unsplit in names else None
    if kind.endswith("-Tools-SquareRoot-1-any"):
        forced = model_dir / f"{kind.removesuffix('-any')}.yaml"
        recorded = json.loads(_recording(forced).request_body) if forced.name in names else None
        if recorded is not None and ("tool_choice" not in recorded or recorded_anthropic.unforced(recorded)):
            return forced
    return None


#: Where the serving child answers with `served` (GET); no provider's path looks like it.
_SERVED_PATH = "/__fixture_server/served"


class FixtureServer(ThreadingHTTPServer):
    """Serves `<prefix>/chat/completions` per OpenAI-compatible provider and `/cloudflare/ai/run/<model>`.

    Bound to 127.0.0.1 on a free port at construction; `with FixtureServer() as server:`
    (or `start()` / `close()`) runs it in a daemon thread.
    """

    daemon_threads = True
    # A run opens dozens of connections at once (every provider, model and mode); the
    # default backlog of 5 drops some, which the client rightly sees as a transport failure.
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that stops reading a stream early resets its kept-alive connection; that is
        normal HTTP, not a server fault, so it must not print a traceback into the test's output."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def __init__(self, fixtures_root: Path = FIXTURES_ROOT) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fixtures_root = fixtures_root
        self._served: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._child: int | None = None

    def start(self) -> FixtureServer:
        """Serves from a forked child process until `close()`.

        A server thread beside the client under test would trade the interpreter lock with it at
        every read and write, which costs more CPU than the serving itself. The child only runs
        this server's loop and leaves with `os._exit`, never returning into code whose locks a
        thread of the parent might hold; `served` asks it over HTTP.
        """
        with warnings.catch_warnings():
            # Python 3.12 warns about any fork of a process with threads, for the reason above.
            warnings.simplefilter("ignore", DeprecationWarning)
            child = os.fork()
        if child == 0:
            try:
                self.serve_forever(poll_interval=0.05)
            finally:
                os._exit(0)
        self._child = child
        return self

    def close(self) -> None:
        if self._child is not None:
            os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
            self._child = None
        self.server_close()

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def base_url(self, provider: str) -> str:
        """What to pass as `--base-url` for `provider` (a key of PROVIDERS)."""
        return f"http://127.0.0.1:{self.port}{PROVIDERS[provider].path_prefix}"

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """The status and body this server answers a POST of `body` to `path` (query included) with,
        worked out in this process: the server's own handler reads the request from memory and
        writes its answer there. For a test that checks answers, not the HTTP between them: no
        child to fork, no client. (`served` only counts what a started server answered.)"""
        request = f"POST {path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        head, _, payload = _InMemory(request, ("127.0.0.1", 0), self).response.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), payload

    @property
    def served(self) -> list[tuple[str, str, str]]:
        """(provider, model, cassette file name or "none <kind>") per request, in arrival order."""
        with urlopen(f"http://127.0.0.1:{self.port}{_SERVED_PATH}", timeout=30) as answer:
            return [(provider, model, cassette) for provider, model, cassette in json.load(answer)["served"]]

    def record_served(self, provider: str, model: str, cassette: Path | None, kind: str = "") -> None:
        """`none <kind>` for a request no recording answered (`none` when not even its kind is known)."""
        with self._lock:
            self._served.append((provider, model, cassette.name if cassette else f"none {kind}".strip()))

    def model_dir(self, provider: Provider, model: str) -> Path | None:
        """The model's recordings, plain or `_thinking`; None for unknown names.

        A `:` in a model id is written `-` in folder names. Looked up in the index of
        folders that hold recordings, so no name can reach outside them.
        """
        index = _index(self.fixtures_root / provider.recordings)
        folder = model.replace(":", "-")
        return index.get(folder) or index.get(f"{folder}_thinking") if model else None


class _Handler(BaseHTTPRequestHandler):
    server: FixtureServer
    protocol_version = "HTTP/1.1"
    # Small SSE writes must leave at once for the client to see a real stream.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path != _SERVED_PATH:
            self._send_text(404, f"no route for {self.path}")
            return
        with self.server._lock:
            self._send_json(200, {"served": self.server._served})

    def do_POST(self) -> None:
        if self.path.startswith(f"{recorded_gemini.PATH_PREFIX}/"):
            recorded_gemini.answer(self)
            return
        route = self._route()
        if route is None:
            self._send_text(404, f"no route for {self.path}")
            return
        provider, path_model = route
        body = self.json_body()
        if body is None:
            return
        model = path_model if path_model is not None else str(body.get("model") or "")
        folder = recorded_anthropic.folder(body) if provider.dialect == "anthropic" else model
        model_dir = self.server.model_dir(provider, folder)
        if model_dir is None:
            self.server.record_served(provider.name, model, None)
            self._send_unknown_model(provider, model)
            return
        kind = classify(provider.dialect, body)
        self.answer(provider, model, find_cassette(model_dir, kind), body, kind)

    def answer(
        self, provider: Provider, model: str, cassette: Path | None, body: Mapping[str, Any], kind: str, url: Mapping[str, Any] | None = None
    ) -> None:
        """Play `cassette` back when its request asks the question `body` asks (`llmprobe.questions`), else
        answer 501 "not recorded": the probe stays unmeasured, never judged on another request's answer.
        `url` carries what the wire puts in the URL rather than the body (Gemini's model and stream)."""
        mismatch = None if cassette is None else unanswered(provider.dialect, body, cassette, **(url or {}))
        served_kind = kind + BEYOND_REFERENCE if beyond_reference(body) else kind
        self.server.record_served(provider.name, model, None if mismatch else cassette, served_kind)
        if cassette is None or mismatch:
            why = f"{cassette.name} asks another question: {mismatch}" if cassette else f"no {kind} recording"
            self._send_text(501, f"{NOT_RECORDED}: {model} {why}")
            return
        self._send_recording(_recording(cassette))

    def _route(self) -> tuple[Provider, str | None] | None:
        """The provider and, for Cloudflare, the model named in the path."""
        path = urlsplit(self.path).path
        for provider in PROVIDERS.values():
            if provider.dialect == "openai" and path == f"{provider.path_prefix}/chat/completions":
                return provider, None
            if provider.dialect in NATIVE and path == provider.path_prefix + native(provider.dialect).ENDPOINT:
                return provider, None
            run_prefix = f"{provider.path_prefix}/run/"
            if provider.dialect == "cloudflare" and path.startswith(run_prefix):
                return provider, unquote(path.removeprefix(run_prefix))
        return None

    def _send_recording(self, recording: Interaction) -> None:
        payload = recording.response_body.encode()
        # send_response_only: the recording already has its own Server header.
        self.send_response_only(recording.status)
        for name, values in recording.response_headers.items():
            if name.lower() not in _FRAMING_HEADERS:
                for value in values:
                    self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        is_sse = (recording.response_header("Content-Type") or "").startswith("text/event-stream")
        for chunk in _sse_events(payload) if is_sse else [payload]:
            self.wfile.write(chunk)
            self.wfile.flush()

    def _send_unknown_model(self, provider: Provider, model: str) -> None:
        """The provider's own answer to a model it does not serve, as recorded in error-cassettes/bad_model.

        Cloudflare really answers 400 (code 7000), not 404; the dialect must cope with that.
        """
        if provider.dialect in NATIVE:
            self._send_json(*native(provider.dialect).unknown_model(model))
        elif provider.dialect == "openai":
            message = f"The model `{model}` does not exist or you do not have access to it."
            error = {"message": message, "type": "invalid_request_error", "code": "model_not_found"}
            self._send_json(404, {"error": error})
        else:
            errors = [{"code": 7000, "message": "No route for that URI"}]
            self._send_json(400, {"success": False, "errors": errors, "result": None, "messages": []})

    def _send_json(self, status: int, document: Mapping[str, Any]) -> None:
        self._send_bytes(status, "application/json", json.dumps(document).encode())

    def json_body(self) -> dict[str, Any] | None:
        """The request's body as a JSON object; None once a 400 has said why it is not one."""
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except json.JSONDecodeError as exc:
            self._send_text(400, f"request body is not JSON: {exc}")
            return None
        if not isinstance(body, dict):
            self._send_text(400, "request body is not a JSON object")
            return None
        return body

    def _send_text(self, status: int, text: str) -> None:
        self._send_bytes(status, "text/plain; charset=utf-8", text.encode())

    def _send_bytes(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: `served` is the log tests assert on, and stderr noise hides test output."""


class _InMemory(_Handler):
    """One request, given whole as `request`, handled by the server's handler in memory (`FixtureServer.post`)."""

    request: bytes
    response = b""

    def setup(self) -> None:
        self.rfile = io.BytesIO(self.request)
        self.wfile = io.BytesIO()

    def handle(self) -> None:
        self.handle_one_request()

    def finish(self) -> None:
        self.response = self.wfile.getvalue()


def _sse_events(payload: bytes) -> list[bytes]:
    """The body cut after each blank line, i.e. one piece per event, separators kept."""
    return [piece for piece in re.split(rb"(?<=\n\n)", payload) if piece]
