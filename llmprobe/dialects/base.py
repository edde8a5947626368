"""What every dialect shares, so that a dialect's module states only what its wire format decides.

A dialect subclasses `BaseDialect`, names itself (`name`, `RATE_LIMIT_SCOPE`) and writes the
methods of `Dialect` that are its own: `build`, `parse`, `stream_parser`, and `http_error` (the
failure a non-2xx answer stands for, which the default `answer` raises). The rest has a default
that a wire format overrides only where it differs: no options, SSE streams, a bearer key, no
announced rate limits, answers that are any JSON, and a model list that is one page of
`{MODELS_ARRAY[0]: [{MODELS_ARRAY[1]: id}, …]}` at `MODELS_PATH` (a paged list adds
`page_query` and `next_cursor`) and declares nothing about its models (a list that does names
where, `DECLARATIONS`, for `llmprobe models --claims`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from llmprobe import neutral
from llmprobe.dialects import HttpCall, Option, option_values, wire
from llmprobe.dialects.declared import Claim, Declarations
from llmprobe.errors import ApiError


class BaseDialect:
    #: The `api:` value in providers.yaml.
    name: ClassVar[str]
    #: Settings of this wire format that a provider may set under `options:`; none by default.
    OPTIONS: ClassVar[Mapping[str, Option]] = {}
    #: How a streamed body is framed: server-sent events, or one JSON object per line.
    STREAM_FRAMING: ClassVar[Literal["sse", "ndjson"]] = "sse"
    #: What the provider counts its rate limits on: each model apart, or the whole provider.
    RATE_LIMIT_SCOPE: ClassVar[Literal["model", "provider"]]
    #: Headers every call of this wire format carries besides the key (an API version, say).
    HEADERS: ClassVar[Mapping[str, str]] = {}
    #: Where the model list is, below the base URL.
    MODELS_PATH: ClassVar[str] = "/models"
    #: A listing page's array of models, and the key of a model's id in each entry.
    MODELS_ARRAY: ClassVar[tuple[str, str]] = ("data", "id")
    #: Where a model list entry declares what the model supports, each claim mapped to what measures it;
    #: None for a list that declares nothing llmprobe measures.
    DECLARATIONS: ClassVar[Declarations | None] = None

    def __init__(self, base_url: str, options: Mapping[str, Any] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        #: Every option the dialect declares, the provider's values (validated when providers.yaml loads) over the defaults.
        self.options = option_values(self.OPTIONS, options)

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
        """The failure a non-2xx answer stands for, read from the wire format's error envelope."""
        raise NotImplementedError

    def answer(self, status: int, headers: Mapping[str, str], body: bytes, what: str) -> Any:
        """The decoded JSON of a 2xx answer; any other answer raises its `http_error`."""
        if not 200 <= status < 300:
            raise self.http_error(status, headers, body)
        return wire.decode(body, what)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def rate_limits(self, headers: Mapping[str, str]) -> list[neutral.RateLimit]:
        """The limits announced on any answer, success or failure; a wire format that announces none has none."""
        return []

    def list_models_call(self, cursor: str | None) -> HttpCall:
        """The request for one page of the model list: the first (`cursor` None), or the one `cursor` names."""
        return HttpCall("GET", f"{self.base_url}{self.MODELS_PATH}{self.page_query(cursor)}", None, self.HEADERS)

    def page_query(self, cursor: str | None) -> str:
        """The query string that asks for the page `cursor` names; none for a list that is one page."""
        return ""

    def parse_models(self, status: int, headers: Mapping[str, str], body: bytes) -> tuple[list[str], str | None]:
        """Model ids on this page, and the cursor of the next page (None on the last one)."""
        page = self.answer(status, headers, body, "model list")
        return self.model_ids(page), self.next_cursor(page)

    def model_ids(self, page: Any) -> list[str]:
        return wire.model_ids(page, *self.MODELS_ARRAY)

    def next_cursor(self, page: Any) -> str | None:
        """The cursor of the page after `page`; None for a list that is one page."""
        return None

    def claims_call(self, model: str, cursor: str | None) -> HttpCall | None:
        """A page of the model list, when the list declares anything (the client fetches each page once)."""
        return None if self.DECLARATIONS is None else self.list_models_call(cursor)

    def parse_claims(
        self, model: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[Claim] | None, str | None]:
        """`model`'s claims, read from its entry on this page by `DECLARATIONS`; None when the page
        does not list it. A page of the wrong shape is refused as listing the models refuses it."""
        page = self.answer(status, headers, body, "model list")
        self.model_ids(page)
        entries, key = self.MODELS_ARRAY
        claims = None if self.DECLARATIONS is None else self.DECLARATIONS.listed(page, entries, key, self.listed_as(model))
        return claims, self.next_cursor(page)

    def listed_as(self, model: str) -> str:
        """The model's id as its entry in the model list spells it."""
        return model
