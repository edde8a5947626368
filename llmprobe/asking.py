"""The one request path: what is sent for a probe, or why nothing is.

A probe, a mode, a model row's settings and, for the tool chain's later steps, the reply the
chain continues (`ChainState`) make one neutral request (`request_for`); the dialect and the
provider's settings then make it the HTTP request that goes out (`Wire.outgoing`), or refuse it
(`UnsupportedOption`). The runner and the client send what these two decide, and `explain`
prints the very same as curl, so the curl cannot drift from what a run sent.

A new step of the tool chain (or any probe whose request depends on an earlier answer) is
its role in `_SHAPES` and the small function that shapes its request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmprobe import __version__
from llmprobe.battery import MediaProbe, Probe, Role, continuation
from llmprobe.dialects import Dialect
from llmprobe.errors import DeclaredUnsupported
from llmprobe.neutral import Message, Reply, Request, ToolChoice, ToolResult

#: Sent with every request unless the dialect or the credentials say otherwise: some provider
#: firewalls refuse a request without a User-Agent, and we decode gzip and deflate only (see `bodies`).
DEFAULT_HEADERS = {"User-Agent": f"llmprobe/{__version__}", "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}


def tool_results(probe: Probe, reply: Reply) -> tuple[ToolResult, ...]:
    """The tool's answer to each of the reply's calls, as `expect: result` gives it."""
    return tuple(ToolResult(call.id, call.name, probe.expect["result"]) for call in reply.tool_calls)


@dataclass(frozen=True)
class ChainState:
    """What the tool chain's later steps continue: the force probe whose call was answered right
    (SquareRoot-1, or -1-any when forcing failed), and its reply."""

    caller: Probe
    reply: Reply

    @property
    def tool_choice(self) -> ToolChoice:
        """The bias probes force their call when forcing worked, and let the model choose otherwise (D6)."""
        return "required" if self.caller.role is Role.FORCE else "auto"

    def history(self) -> tuple[Message, ...]:
        """The caller's turn (with its reasoning blocks) and the tool's answers to its calls."""
        reply = self.reply
        return continuation(reply.tool_calls, list(tool_results(self.caller, reply)), reply.thoughts)


def _follow_up(probe: Probe, stream: bool, chain: ChainState) -> Request:
    return probe.request(stream=stream, history=chain.history())


def _bias(probe: Probe, stream: bool, chain: ChainState) -> Request:
    return dataclasses.replace(probe.request(stream=stream), tool_choice=chain.tool_choice)


#: The roles whose request continues the chain, each with how it does.
_SHAPES: dict[Role, Callable[[Probe, bool, ChainState], Request]] = {
    Role.FOLLOW_UP: _follow_up,
    Role.FOLLOW_UP_FALLBACK: _follow_up,
    Role.BIAS: _bias,
}


def wanted(probe: Probe, image_urls: bool) -> bool:
    """Every probe but the media by URL when there is no image_base_url to point them at."""
    return not isinstance(probe, MediaProbe) or probe.way == "Inline" or image_urls


def request_for(
    probe: Probe, *, stream: bool, thinking: bool = False, image_base_url: str = "", chain: ChainState | None = None
) -> Request | None:
    """`probe`'s request in one mode; None for a medium by URL without an image_base_url (not sent).

    `thinking` is a `reason: true` row's: it asks for the model's reasoning on every request,
    where the API has a switch for it. `chain` is needed by the roles of `_SHAPES` only.
    """
    if isinstance(probe, MediaProbe):
        request = probe.media_request(stream=stream, base_url=image_base_url)
        if request is None:
            return None
    elif probe.role in _SHAPES:
        if chain is None:
            raise ValueError(f"{probe.name} continues the tool chain: its request needs the chain's state")
        request = _SHAPES[probe.role](probe, stream, chain)
    else:
        request = probe.request(stream=stream)
    return dataclasses.replace(request, thinking=True) if thinking else request


@dataclass(frozen=True)
class Outgoing:
    """A request as it goes on the wire: what the client sends, and what `explain` prints as curl."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Wire:
    """How one provider's requests go on the wire: its dialect, the options providers.yaml declares
    it lacks (`unsupported`), the fields it adds to every body (`extra_body`) and its credentials'
    headers (the key's value for the client, the variable that holds it for `explain`)."""

    dialect: Dialect
    unsupported: Collection[str] = ()
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    auth_headers: Mapping[str, str] = field(default_factory=dict)

    def outgoing(self, model: str, request: Request) -> Outgoing:
        """`request` for `model` in the dialect's wire format, `extra_body` under the dialect's
        fields and the credentials over every header.

        Raises DeclaredUnsupported when it asks for an option the provider is declared to lack,
        and UnsupportedOption when the wire format cannot carry it: either way nothing is sent.
        """
        declared = next((option for option in self.unsupported if request.asks(option)), None)
        if declared is not None:
            raise DeclaredUnsupported(declared, "the provider's API does not have it (providers.yaml `unsupported`)")
        call = self.dialect.build(model, request)
        extra = self.extra_body
        body = {**extra, **call.json} if extra and isinstance(call.json, dict) else call.json
        return Outgoing(call.method, call.url, self.headers(call.headers), body)

    def headers(self, own: Mapping[str, str]) -> dict[str, str]:
        """The defaults, then a call's own headers, then the credentials, each over the one before
        (names matched without regard to case, as HTTP does)."""
        merged: dict[str, str] = {}
        for layer in (DEFAULT_HEADERS, own, self.auth_headers):
            for name, value in layer.items():
                for same in [known for known in merged if known.lower() == name.lower()]:
                    del merged[same]
                merged[name] = value
        return merged
