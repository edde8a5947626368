"""Typed failures, so a verdict can tell "the feature does not work" from "we could not ask".

The distinction matters more than anything else in a scoreboard: a provider that
rejects an option does not support it, while a dropped connection says nothing
about the option at all.
"""

from __future__ import annotations

import enum
import re


class LlmprobeError(Exception):
    """Base of every error llmprobe raises on purpose; the CLI prints these as one line."""


class ConfigError(LlmprobeError):
    """providers.yaml (or a command-line choice that refers to it) is wrong."""


class UnsupportedOption(LlmprobeError):
    """The dialect's wire format has no way to carry an option that was asked for; nothing was sent.

    Only for what the wire format itself lacks (no such field, no such value): which models
    or settings accept an option is the provider's to answer, so such a request is sent.
    `detail` names the field that is missing and the API reference it was checked against.
    """

    def __init__(self, option: str, detail: str = "") -> None:
        self.option = option
        self.detail = detail
        super().__init__(f"unsupported option {option}" + (f": {detail}" if detail else ""))


class DeclaredUnsupported(UnsupportedOption):
    """providers.yaml declares that the provider does not have an option (`unsupported:`): not sent.

    Unlike a field the wire format lacks, this is a statement about one provider (one that
    accepts the field and ignores it, say), so it counts as the feature not working."""


class ErrorKind(str, enum.Enum):
    #: The provider refused the request as built: an option, a value or an input it does not accept.
    REJECTED = "rejected"
    #: The request was accepted but the model produced something unusable (Groq's tool_use_failed).
    MODEL_FAILED = "model_failed"
    #: Bad or missing credentials, or no permission.
    AUTH = "auth"
    #: The model (or route) does not exist.
    NOT_FOUND = "not_found"
    #: Throttled (429 and friends).
    RATE_LIMITED = "rate_limited"
    #: A 5xx or 408/409: the provider failed, not the request.
    SERVER = "server"
    #: The bytes never arrived intact: connection refused or dropped, timeout, stream cut short.
    TRANSPORT = "transport"
    #: An answer was decoded but does not follow the wire format (a missing field, wrong types).
    MALFORMED = "malformed"
    #: The server sent us elsewhere (a 3xx, never followed: the credentials must not travel to a
    #: host nobody configured). No answer about the model, so its verdicts are unknown; asking
    #: the same URL again would only be sent away again. The fix is the configured base_url.
    REDIRECTED = "redirected"
    #: An answer arrived that could not be read at all: not JSON, not UTF-8, beyond the decoder's
    #: limits (nesting, number size, NaN), larger than the reply size limit. Like a dropped
    #: connection it says nothing about the request, so its verdicts are unknown; unlike one,
    #: asking again would only fetch the same bytes.
    UNREADABLE = "unreadable"
    #: Replay holds no recording of the question this request asks (`llmprobe.questions`): nothing
    #: answered, so its verdicts are unknown, and asking again would find no recording either.
    NOT_RECORDED = "not_recorded"


#: Kinds worth asking again: they say nothing about the request itself.
RETRYABLE_KINDS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.SERVER, ErrorKind.TRANSPORT})

#: What an HTTP status says on its own, before a dialect reads the body. Dialects refine
#: it with their error codes (a Cloudflare code for a bad key, Groq's tool_use_failed), but
#: the status itself means the same on every wire, so it is written down here once.
_STATUS_KINDS = {
    401: ErrorKind.AUTH,
    403: ErrorKind.AUTH,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.SERVER,
    409: ErrorKind.SERVER,
    429: ErrorKind.RATE_LIMITED,
}


def kind_for_status(status: int) -> ErrorKind | None:
    """The kind of failure an HTTP status names; None for a status that is no error (1xx–3xx)."""
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    if 500 <= status < 600:
        return ErrorKind.SERVER
    if 400 <= status < 500:
        return ErrorKind.REJECTED
    return None


#: The providers' own words for "the model's tool call was wrong" (Groq's and Cerebras' code
#: tool_use_failed; Cohere's "all generated tool calls were hallucinated"): the request was
#: accepted and the model failed at it, which is not the provider refusing an option.
_FAILED_CALL = re.compile(
    r"tool_use_failed|tool[ _]calls? (?:were |was )?hallucinated|hallucinated (?:tool|function)[ _]calls?"
    r"|(?:tool|function)[ _]call(?:ing)? (?:generation )?failed"
    r"|failed to (?:generate|parse) (?:a |the )?(?:tool|function)[ _]call",
    re.IGNORECASE,
)


def refused_or_failed(kind: ErrorKind, message: str, code: str | None) -> ErrorKind:
    """An error answer (a refusal, a server or in-stream error) that reports the model's failed tool
    call is MODEL_FAILED, on every wire.

    The one place this is decided: every dialect's errors pass through `ApiError`, which asks it.
    """
    said = f"{message} {code or ''}"
    if kind in (ErrorKind.REJECTED, ErrorKind.SERVER, ErrorKind.MALFORMED) and _FAILED_CALL.search(said):
        return ErrorKind.MODEL_FAILED
    return kind


class ApiError(LlmprobeError):
    """A request was sent and did not produce a usable reply."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        has_envelope: bool = False,
    ) -> None:
        # One line, whatever the provider sent (some servers append a traceback).
        self.message = " ".join(message.split())
        self.kind = refused_or_failed(kind, self.message, code)
        self.status = status
        self.code = code
        #: Seconds the provider asked us to wait (Retry-After and friends), if it said.
        self.retry_after = retry_after
        #: The body decoded as the provider's own error envelope (not an HTML page from a proxy).
        self.has_envelope = has_envelope
        where = f"HTTP {status}" if status else kind.value
        super().__init__(f"{where}: {self.message}" + (f" ({code})" if code else ""))

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


class CassetteError(LlmprobeError):
    """Replay found no recording for a request, or a recording that does not match it."""


_EXCERPT_CHARS = 120
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def excerpt(text: str) -> str:
    """`text` on one short line, so an error message stays readable in a log."""
    line = " ".join(text.split())
    if not line:
        return "empty body"
    return line if len(line) <= _EXCERPT_CHARS else line[: _EXCERPT_CHARS - 1] + "…"


def page_excerpt(body: bytes | str) -> str:
    """One short line from a body that is not the provider's JSON: a proxy's HTML
    error page is reduced to its title, or its text without tags, never dumped whole."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if text.lstrip().startswith("<"):
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", text)
    return excerpt(text)
