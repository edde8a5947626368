"""Every recorded answer our dialects speak, read by its dialect: a 200 reply must always parse.

A parse failure on a 2xx answer would be reported as a malformed or cut reply, i.e. the
provider blamed for our misreading (or, worse, a transport error: unmeasured). Walks every
cassette of every folder the fixture server serves (the OpenAI-compatible providers and
Cloudflare), generation calls only: `GenDoc-*` are image-generation calls to another API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ALL_RECORDINGS, FIXTURES, needs_fixtures
from llmprobe.cassettes import Interaction, load_cassette
from llmprobe.dialects import get_dialect
from llmprobe.errors import ApiError, ErrorKind
from llmprobe.neutral import Reply
from support import replaying


def read(api: str, item: Interaction) -> Reply:
    """What the client does with the answer (see tests/support/replaying.py)."""
    return replaying.replay(get_dialect(api, "http://127.0.0.1"), item)


def recordings() -> list[tuple[str, str, Path]]:
    from support.fixture_server import PROVIDERS

    found = []
    for provider in PROVIDERS.values():
        root = FIXTURES / provider.recordings
        for path in sorted(root.rglob("Gen*.yaml")):
            if not path.name.startswith("GenDoc"):
                found.append((provider.name, provider.dialect, path))
    return found


def test_every_recorded_200_reply_parses():
    walked = 0
    failures = []
    for name, api, path in recordings():
        for item in replaying.recorded(path):
            if not 200 <= item.status < 300:
                continue
            walked += 1
            try:
                read(api, item)
            except ApiError as error:
                # The provider's own in-band verdicts on the call are readings, not failures to read.
                if error.kind in (ErrorKind.MALFORMED, ErrorKind.TRANSPORT):
                    failures.append(f"{name}: {path.relative_to(FIXTURES)}: {error}")
    print(f"{walked} recorded 200 replies, {len(failures)} failed to parse")
    assert walked > (1500 if ALL_RECORDINGS else 500)
    assert failures == []


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        # In-band answers that are the provider speaking, correctly read as errors:
        ("groq-2025-08-29/scoreboard-cassettes/moonshotai/kimi-k2-instruct/GenStream-Tools-SquareRoot-1.yaml", ErrorKind.MODEL_FAILED),
        ("deepseek-2025-09-02/scoreboard-cassettes/deepseek-reasoner_thinking/GenSync-Tools-SquareRoot-1.yaml", ErrorKind.MODEL_FAILED),
    ],
)
@needs_fixtures
def test_in_band_failures_are_the_providers_not_ours(relative: str, kind: ErrorKind):
    (item,) = load_cassette(FIXTURES / relative).interactions
    with pytest.raises(ApiError) as failure:
        read("openai", item)
    assert failure.value.kind is kind


def test_every_recorded_error_carries_the_providers_envelope():
    """Non-2xx answers are decoded as the provider's own error body, so their message is the provider's
    (Perplexity's 401 is a bare nginx page, the one exception)."""
    undecoded = []
    for _name, api, path in recordings():
        for item in replaying.recorded(path):
            if item.status < 300:
                continue
            try:
                read(api, item)
            except ApiError as error:
                if not error.has_envelope:
                    undecoded.append(str(path.relative_to(FIXTURES)))
    assert undecoded == [
        "perplexity-2025-09-02/error-cassettes/bad_apiKey/GenStream.yaml",
        "perplexity-2025-09-02/error-cassettes/bad_apiKey/GenSync.yaml",
    ]
