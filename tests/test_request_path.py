"""One request path: the curl `explain` prints is the request the run sent, probe for probe.

A run against a fake provider records every request it sends (`--record`); `explain` then
rebuilds each probe's request from the results file alone. Both go through `llmprobe.asking`,
so method, URL, body and headers (all but the credentials, which a cassette never holds) must
be equal for every probe of the battery, in both modes, the tool chain's steps included.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from conftest import REPO, needs_fixtures
from llmprobe import explain, results_file
from llmprobe.asking import Wire, request_for
from llmprobe.battery import Role, load_battery
from llmprobe.cassettes import Interaction, cassette_path, load_cassette
from llmprobe.cli import app
from llmprobe.config import load_config
from llmprobe.dialects import get_dialect
from llmprobe.errors import UnsupportedOption
from llmprobe.neutral import Request
from llmprobe.redaction import Redactor
from llmprobe.results import MODES
from support import recorded_gemini
from support.configs import MEDIA_BASE_URL, write_providers
from support.fake_openai import FakeOpenAI, RecordedRequest, Scripted, json_response
from support.passing_provider import wire_answer

MODEL = "fake/model"
KEY_ENV = "FAKE_KEY"


def refusing_forced_choices(request: RecordedRequest) -> Scripted:
    """Every probe answered right, except that tool_choice "required" and "none" are refused (as
    aya-vision refuses them): the chain then takes its fallbacks, -1-any and -2-any, and the bias
    probes are sent with "auto"."""
    body = request.json
    if body.get("tool_choice") in ("required", "none"):
        return json_response({"error": {"message": "tool_choice is not supported", "type": "invalid_request_error"}}, status=400)
    return wire_answer(body, 0)


def carried(request: Request | None) -> bool:
    """Whether the OpenAI wire format can carry `request` at all."""
    if request is None:
        return False
    try:
        get_dialect("openai", "https://x.invalid/v1").build(MODEL, request)
    except UnsupportedOption:
        return False
    return True


def passing(request: RecordedRequest) -> Scripted:
    return wire_answer(request.json, 0)


#: One shell word: unquoted characters, backslash escapes, '…' and "…" strings, side by side.
_WORD = re.compile(r"""\s*((?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+)""", re.S)
_PIECE = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([^'"\\]+)""", re.S)
#: Within double quotes a backslash quotes only these (and removes a newline); else it stays.
_ESCAPED_IN_DOUBLE = re.compile(r'\\([$`"\\\n])')


def shell_words(command: str) -> list[str]:
    """The words a POSIX shell reads in `command`, quotes removed, nothing expanded (`$VAR` stays).

    `shlex.split` at regex speed (it reads character by character, and these curls carry whole
    images in base64), and with the POSIX rule for a backslash before `$` in double quotes."""
    words, at, end = [], 0, len(command.rstrip())
    while at < end:
        word = _WORD.match(command, at)
        if word is None:
            raise ValueError(f"unbalanced quotes at {command[at : at + 40]!r}")
        words.append("".join(_unquoted(piece) for piece in _PIECE.finditer(word.group(1))))
        at = word.end()
    return words


def _unquoted(piece: re.Match[str]) -> str:
    single, double, escaped, plain = piece.groups()
    if single is not None:
        return single
    if double is not None:
        return _ESCAPED_IN_DOUBLE.sub(lambda m: "" if m.group(1) == "\n" else m.group(1), double)
    if escaped is not None:
        return "" if escaped == "\n" else escaped
    return str(plain)


@pytest.mark.parametrize(
    ("command", "words", "as_shlex"),
    [
        ("curl -X  POST\t'a b' \"c d\" ", ["curl", "-X", "POST", "a b", "c d"], True),
        ("'it'\"'\"'s' \"say \\\"hi\\\"\" a\\ b \\'", ["it's", 'say "hi"', "a b", "'"], True),
        ("a'b'\"c\"d '' \"\" \"\\x\"", ["abcd", "", "", "\\x"], True),
        # Where shlex is not POSIX: a backslash-newline joins lines, and a backslash quotes `$` and
        # a backquote in double quotes. (Each case here is what `sh -c "printf '%s\\0' …"` prints.)
        ("line\\\nbreak \"in\\\nside\"", ["linebreak", "inside"], False),
        ('-H "Authorization: Bearer $KEY" "\\$5 \\`x\\`"', ["-H", "Authorization: Bearer $KEY", "$5 `x`"], False),
    ],
)
def test_shell_words_are_what_a_posix_shell_reads(command: str, words: list[str], as_shlex: bool) -> None:
    assert shell_words(command) == words
    if as_shlex:
        assert shlex.split(command) == words


@pytest.mark.parametrize("command", ["curl 'open", 'curl "open', 'curl "a\\"', "curl \\"])
def test_shell_words_refuse_unbalanced_quotes(command: str) -> None:
    with pytest.raises(ValueError):
        shell_words(command)
    with pytest.raises(ValueError):
        shlex.split(command)


@cache
def parsed_curl(command: str) -> tuple[str, str, dict[str, str], Any]:
    """Method, URL, headers and body of a curl command as `explain` writes it, read as a shell would.
    (Read once: a probe shown in several cells of the table is checked in each.)"""
    words = shell_words(command)
    assert words[0] == "curl"
    at = words.index("-X")
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
    return words[at + 1], words[at + 2], headers, body


@cache
def sent_requests(cassette: Path) -> list[Interaction]:
    """What the run recorded under one name, read once: a probe shown in several cells is checked in each."""
    return load_cassette(cassette).interactions


def without_secrets(headers: dict[str, str] | dict[str, list[str]]) -> dict[str, list[str]]:
    """The headers as a cassette keeps them: credentials dropped, names in one spelling."""
    items = [(name, value) for name, values in headers.items() for value in ([values] if isinstance(values, str) else values)]
    return Redactor().request_headers(httpx.Headers(items))


def explained_against_recorded(tmp_path: Path, script: Any, **fields: Any) -> set[tuple[str, str]]:
    """Runs the battery with `--record`, then checks every probe's curl against its cassette;
    returns the (mode, probe) pairs compared."""
    tmp_path.mkdir()
    with FakeOpenAI(script) as server:
        provider = {"api": "openai", "base_url": server.base_url, "api_key_env": KEY_ENV, "max_retries": 0, "models": [MODEL]}
        cfg = write_providers(tmp_path, {"fake": {**provider, **fields}})
        out, cassettes = tmp_path / "out", tmp_path / "cassettes"
        ran = CliRunner().invoke(
            app,
            ["run", "-p", "fake", "--config", str(cfg), "--out", str(out), "--record", str(cassettes)],
            env={KEY_ENV: "sk-" + "planted0123456789"},
        )
        assert ran.exit_code == 0, ran.output
    config = load_config(cfg).providers["fake"]
    saved = results_file.load(out / "fake.json")
    found = explain.explain(config, saved, MODEL)
    compared: set[tuple[str, str]] = set()
    for mode in found.modes:
        for cell in mode.cells:
            for probe in cell.probes:
                (trial,) = probe.trials
                reproduction = probe.reproduction
                where = (mode.mode, probe.probe)
                recorded = cassette_path(cassettes, trial.cassette or "")
                if not recorded.is_file():
                    # Never sent (declared unsupported, or beyond the wire format): no curl either.
                    assert reproduction.curl is None and reproduction.note.startswith("not sent: "), where
                    continue
                (sent,) = sent_requests(recorded)
                assert reproduction.curl is not None, (where, reproduction.note)
                method, url, headers, body = parsed_curl(reproduction.curl)
                assert (method, url) == (sent.method, sent.url), where
                assert body == json.loads(sent.request_body), where
                assert without_secrets(headers) == sent.request_headers, where
                assert headers["Authorization"] == f"Bearer ${KEY_ENV}", where
                compared.add(where)
    return compared


def test_explains_curl_is_what_the_run_sent_for_every_probe_and_both_modes(tmp_path: Path) -> None:
    battery = load_battery()
    everything = {probe.name for probe in (*battery.probes.values(), *battery.media)}
    # extra_body, an option declared unsupported and the media by URL: each is a rule both must follow.
    settings = {"extra_body": {"user": "llmprobe-test"}, "unsupported": ["seed"], "image_base_url": "https://images.invalid/p"}
    straight = explained_against_recorded(tmp_path / "straight", passing, **settings)
    fallbacks = explained_against_recorded(tmp_path / "fallbacks", refusing_forced_choices, **settings)
    unsent = {probe.name for probe in battery.probes.values() if probe.options.get("seed") is not None}
    # Nor are the media the OpenAI wire cannot carry by URL (audio, video, a PDF).
    unsent |= {probe.name for probe in battery.media if not carried(probe.media_request(stream=False, base_url="https://x.invalid"))}
    assert straight | fallbacks == {(mode, name) for mode in MODES for name in everything - unsent}
    # Each run took one way through the tool chain, and the bias probes were compared on both.
    chain = {name for name in everything if name.startswith("Tools-SquareRoot")}
    assert {name for _, name in straight} & chain == {"Tools-SquareRoot-1", "Tools-SquareRoot-2"}
    assert {name for _, name in fallbacks} & chain == chain
    assert all(("sync", probe.name) in straight & fallbacks for probe in battery.probes.values() if probe.enum)


#: The shipped providers whose settings take other ways through the request path: each native
#: dialect, and the OpenAI-compatible ones that declare options unsupported.
SHIPPED = ["anthropic", "gemini", "cohere", "ollama", "openairesponses", "cloudflare", "deepseek", "perplexity"]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """One fixture server for every shipped provider's run."""
    from support.fixture_server import FixtureServer

    with FixtureServer() as running:
        yield running


@cache
def shipped_providers() -> dict[str, Any]:
    return yaml.safe_load((REPO / "providers.yaml").read_text(encoding="utf-8"))["providers"]


@needs_fixtures
@pytest.mark.parametrize("name", SHIPPED)
def test_explains_curl_is_what_a_recorded_provider_was_sent(tmp_path: Path, server: Any, name: str) -> None:
    """The shipped settings of each dialect (its options, `unsupported`, a `reason: true` row's
    thinking switch), against the recordings: every probe's curl is the request the run sent,
    but the follow-ups, which carry the model's own call back (explain shows the expected one)."""
    shipped = shipped_providers()[name]
    probed = [m for m in shipped["models"] if not isinstance(m, dict) or m.get("probe", True)]
    row = next((m for m in probed if isinstance(m, dict) and m.get("reason")), probed[0])
    model = row["id"] if isinstance(row, dict) else row
    fields = {**shipped, "models": [row], "max_retries": 0, "rate_limit_wait": 0, "image_base_url": MEDIA_BASE_URL}
    cfg = write_providers(tmp_path, {name: fields})
    out, cassettes = tmp_path / "out", tmp_path / "cassettes"
    url = recorded_gemini.base_url(server) if name == "gemini" else server.base_url(name)
    env = {shipped["api_key_env"]: "replayed-not-a-key"} if shipped.get("api_key_env") else {}
    ran = CliRunner().invoke(
        app,
        ["run", "-p", name, "--base-url", url, "--config", str(cfg), "--out", str(out), "--record", str(cassettes)],
        env=env,
    )
    assert ran.exit_code in (0, 1), ran.output
    config = load_config(cfg).providers[name]
    thinking = isinstance(row, dict) and bool(row.get("reason"))
    found = explain.explain(config, results_file.load(out / f"{name}.json"), model, base_url=url, reason=thinking)
    follow_ups = {probe.name for probe in load_battery().probes.values() if probe.role in (Role.FOLLOW_UP, Role.FOLLOW_UP_FALLBACK)}
    compared = 0
    for mode in found.modes:
        for cell in mode.cells:
            for probe in cell.probes:
                if probe.probe in follow_ups:
                    continue
                where = (mode.mode, probe.probe)
                recorded = cassette_path(cassettes, probe.trials[0].cassette or "")
                if not recorded.is_file():
                    assert probe.reproduction.curl is None and probe.reproduction.note.startswith("not sent: "), where
                    continue
                sent = sent_requests(recorded)[0]
                assert probe.reproduction.curl is not None, (where, probe.reproduction.note)
                method, sent_url, headers, body = parsed_curl(probe.reproduction.curl)
                assert (method, sent_url) == (sent.method, sent.url), where
                assert body == json.loads(sent.request_body), where
                assert without_secrets(headers) == sent.request_headers, where
                compared += 1
    assert compared >= 20


def test_a_calls_own_header_replaces_the_default_and_the_credentials_both_whatever_the_case() -> None:
    wire = Wire(get_dialect("openai", "https://x.invalid/v1"), auth_headers={"authorization": "Bearer k"})
    merged = wire.headers({"user-agent": "its own", "Authorization": "its own"})
    assert merged == {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "user-agent": "its own", "authorization": "Bearer k"}


def test_a_step_that_continues_the_chain_cannot_be_built_without_its_state() -> None:
    follow_up = load_battery().one(Role.FOLLOW_UP)
    with pytest.raises(ValueError, match="needs the chain's state"):
        request_for(follow_up, stream=False)
