"""A made-up wire format, to show that a dialect is one module plus one registry line.

Toy speaks plain prompts only: `POST {base_url}/generate` with `{"model", "prompt",
"stream"}`, answered with `{"text", "finish", "tokens": [in, out]}`, or streamed as
NDJSON lines `{"delta": …}` ending with `{"finish": …, "tokens": […]}`. Everything
else a probe asks for is an option it cannot express.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmprobe.dialects import HttpCall, Option, option_values
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, kind_for_status
from llmprobe.neutral import RateLimit, Reply, Request, TextPart, Usage, normalise_finish_reason
from llmprobe.sse import SseEvent


class ToyDialect:
    name = "toy"
    OPTIONS = {"shout": Option("boolean", False)}  # send the prompt in capitals
    STREAM_FRAMING = "ndjson"
    RATE_LIMIT_SCOPE = "provider"

    def __init__(self, base_url: str, options: Mapping[str, Any] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.shout: bool = option_values(ToyDialect.OPTIONS, options)["shout"]

    def build(self, model: str, request: Request) -> HttpCall:
        asked = [name for name in ("tools", "json_schema", "seed", "stop", "top_logprobs") if getattr(request, name)]
        if request.json_mode or asked:
            raise UnsupportedOption(asked[0] if asked else "json_mode", "toy takes plain prompts")
        parts = [p for m in request.messages for p in m.parts]
        if not all(isinstance(p, TextPart) for p in parts):
            raise UnsupportedOption("non-text input", "toy takes plain prompts")
        prompt = " ".join(p.text for p in parts if isinstance(p, TextPart))
        body = {"model": model, "prompt": prompt.upper() if self.shout else prompt, "stream": request.stream}
        if request.max_tokens is not None:
            body["limit"] = request.max_tokens
        return HttpCall("POST", f"{self.base_url}/generate", body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"toy-key": api_key}

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        if not 200 <= status < 300:
            raise ApiError(kind_for_status(status) or ErrorKind.MALFORMED, body.decode(errors="replace"), status=status)
        data = json.loads(body)
        return _reply(data["text"], data)

    def stream_parser(self) -> ToyStreamParser:
        return ToyStreamParser()

    def rate_limits(self, headers: Mapping[str, str]) -> list[RateLimit]:
        remaining = headers.get("toy-remaining")
        return [RateLimit("requests", 100, int(remaining))] if remaining else []

    def list_models_call(self, cursor: str | None) -> HttpCall:
        return HttpCall("GET", f"{self.base_url}/models")

    def parse_models(self, status: int, headers: Mapping[str, str], body: bytes) -> tuple[list[str], str | None]:
        return list(json.loads(body)), None

    def claims_call(self, model: str, cursor: str | None) -> None:
        """Toy's list names its models and declares nothing about them."""
        return None

    def parse_claims(self, model: str, status: int, headers: Mapping[str, str], body: bytes) -> tuple[None, None]:
        return None, None


class ToyStreamParser:
    def __init__(self) -> None:
        self._text: list[str] = []
        self._last: dict[str, Any] | None = None

    def feed(self, event: SseEvent) -> None:
        line = json.loads(event.data)
        if "finish" in line:
            self._last = line
        else:
            self._text.append(line["delta"])

    def finish(self) -> Reply:
        if self._last is None:
            raise ApiError(ErrorKind.TRANSPORT, "stream ended before its finish line")
        return _reply("".join(self._text), self._last)


def _reply(text: str, data: Mapping[str, Any]) -> Reply:
    tokens_in, tokens_out = data["tokens"]
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out)
    return Reply(text=text, usage=usage, finish_reason=normalise_finish_reason(data["finish"]), raw_finish_reason=data["finish"])
