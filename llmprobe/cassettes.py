"""Cassettes: HTTP exchanges stored as go-vcr v2 YAML.

We use the same format as the reference project's recordings, so one reader
serves both our own cassettes and theirs. Record and replay are httpx transports
(httpx's public extension point), which covers async and streamed responses
without patching any library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Interaction:
    method: str
    url: str
    request_body: str
    request_headers: dict[str, list[str]]
    status: int
    response_headers: dict[str, list[str]]
    #: The raw body; for a streamed answer, the SSE text exactly as it arrived.
    response_body: str
    duration_ms: float | None = None

    def response_header(self, name: str) -> str | None:
        for key, values in self.response_headers.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None

    def flat_response_headers(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.response_headers.items() if v}


@dataclass
class Cassette:
    path: Path
    interactions: list[Interaction] = field(default_factory=list)


def _duration_ms(value: object) -> float | None:
    if value is None:
        return None
    from llmprobe.ratelimits import parse_duration

    try:
        return parse_duration(str(value)) * 1000
    except ValueError:
        return None


def load_cassette(path: Path) -> Cassette:
    """Read a go-vcr v2 cassette (ours or the reference's)."""
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    interactions = []
    for item in data.get("interactions") or []:
        request, response = item["request"], item["response"]
        interactions.append(
            Interaction(
                method=request.get("method", "POST"),
                url=request.get("url", ""),
                request_body=(request.get("body") or "").removesuffix("\n") if _go_newline(request) else request.get("body") or "",
                request_headers=dict(request.get("headers") or {}),
                status=int(response.get("code", 0)),
                response_headers=dict(response.get("headers") or {}),
                response_body=response.get("body") or "",
                duration_ms=_duration_ms(response.get("duration")),
            )
        )
    return Cassette(path, interactions)


def _go_newline(request: dict) -> bool:
    """go-vcr stores bodies as YAML block scalars that gain one trailing newline.

    `content_length` tells the true size, so the newline is removed only when it
    was not part of the body that went over the wire.
    """
    body = request.get("body") or ""
    length = request.get("content_length")
    return isinstance(length, int) and length >= 0 and len(body.encode()) == length + 1 and body.endswith("\n")
