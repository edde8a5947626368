"""providers.yaml is edited by hand and copied from strangers: each broken one is refused in
one line naming its file and line, exit status 2, quickly, before anything is sent."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmprobe.cli import app
from llmprobe.config import load_config
from llmprobe.errors import ConfigError
from llmprobe.safeyaml import MAX_CONFIG_BYTES

HEAD = "providers:\n  fake:\n    api: openai\n    base_url: http://127.0.0.1:9/v1\n"
MODELS = "    models:\n      - id: m\n"


def laughs(levels: int, width: int = 9) -> str:
    """The billion laughs: each level an alias list of the one before, `width`**`levels` strings in all."""
    lines = ['      l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"      l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def deep_flow(depth: int) -> str:
    return "[" * depth + "]" * depth


#: (id, file text or bytes, the line named, a phrase of the message)
BROKEN: list[tuple[str, str | bytes, int, str]] = [
    ("billion-laughs-in-extra-body", HEAD + "    extra_body:\n" + laughs(9) + MODELS, 6, "alias bomb"),
    ("billion-laughs-at-the-top", "bomb:\n" + laughs(9).replace("      ", "  ") + HEAD + MODELS, 2, "alias bomb"),
    ("wide-laughs", HEAD + "    extra_body:\n" + laughs(3, width=200) + MODELS, 6, "alias bomb"),
    ("recursive-alias-list", HEAD + "    extra_body:\n      a: &a [1, *a]\n" + MODELS, 6, "refers to the value it is part of"),
    ("recursive-alias-mapping", HEAD + "    extra_body: &b\n      a: {x: *b}\n" + MODELS, 6, "refers to the value it is part of"),
    ("recursive-alias-models", HEAD + "    models: &m\n      - id: m\n        comment: *m\n", 7, "refers to the value it is part of"),
    ("undefined-alias", HEAD + "    extra_body: *nowhere\n" + MODELS, 5, "undefined alias"),
    ("duplicate-anchor", HEAD + "    extra_body:\n      a: &x 1\n      b: &x 2\n" + MODELS, 7, "duplicate anchor"),
    ("complex-key-at-top", "? [a, b]\n: c\n" + HEAD + MODELS, 1, "a key must be plain text"),
    ("complex-key-in-extra-body", HEAD + "    extra_body:\n      ? [a, b]\n      : c\n" + MODELS, 6, "cannot be read"),
    ("mapping-key-in-extra-body", HEAD + "    extra_body:\n      {a: 1}: c\n" + MODELS, 6, "cannot be read"),
    ("complex-key-in-a-model", HEAD + "    models:\n      - ? {id: m}\n        : x\n", 6, "a key must be plain text"),
    ("5000-digit-concurrency", HEAD + "    concurrency: " + "9" * 5000 + "\n" + MODELS, 5, "a number of 5000 characters"),
    ("5000-digit-integer-in-extra-body", HEAD + "    extra_body:\n      seed: " + "1" * 5000 + "\n" + MODELS, 6, "a number of 5000 characters"),
    ("5000-digit-timeout", HEAD + "    timeout: 1." + "5" * 5000 + "\n" + MODELS, 5, "a number of 5002 characters"),
    ("nan-in-extra-body", HEAD + "    extra_body:\n      temperature: .nan\n" + MODELS, 6, "holds nan, which JSON cannot carry"),
    ("inf-in-extra-body", HEAD + "    extra_body:\n      temperature: .inf\n" + MODELS, 6, "holds inf"),
    ("minus-inf-deep-in-extra-body", HEAD + "    extra_body:\n      a: {b: [1, -.Inf]}\n" + MODELS, 6, "holds -inf"),
    ("nan-timeout", HEAD + "    timeout: .nan\n" + MODELS, 5, "plain decimal number"),
    ("20000-deep-flow-list", HEAD + "    extra_body:\n      a: " + deep_flow(20_000) + "\n" + MODELS, 6, "nested deeper than 32 levels"),
    ("20000-deep-flow-mapping", HEAD + "    extra_body: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n" + MODELS, 5, "nested deeper"),
    ("40-deep-block-mapping", HEAD + "    extra_body:\n" + "".join("  " * (3 + i) + f"k{i}:\n" for i in range(40)) + MODELS, 34, "nested deeper"),
    ("lone-surrogate-in-model-id", HEAD + '    models:\n      - id: "model-\\ud800"\n', 6, "lone surrogate"),
    ("lone-surrogate-in-a-key", HEAD + '    "x\\udc00": 1\n' + MODELS, 5, "lone surrogate"),
    ("lone-surrogate-in-extra-body", HEAD + '    extra_body:\n      stop: ["\\udfff"]\n' + MODELS, 6, "lone surrogate"),
    ("not-utf8", (HEAD + "    country: caf").encode() + b"\xe9\n" + MODELS.encode(), 5, "not UTF-8 text"),
    ("utf16", (HEAD + MODELS).encode("utf-16"), 1, "not UTF-8 text"),
    ("nul-byte", HEAD + "    country: a\x00b\n" + MODELS, 5, "special characters are not allowed"),
    ("escape-character", HEAD + "    country: a\x1b[31mb\n" + MODELS, 5, "special characters are not allowed"),
    ("too-large", HEAD + MODELS + "# " + "x" * MAX_CONFIG_BYTES + "\n", 1, f"larger than {MAX_CONFIG_BYTES} bytes"),
    ("empty", "", 1, "the file is empty"),
    ("only-comments", "# nothing here\n", 1, "the file is empty"),
    ("two-documents", HEAD + MODELS + "---\n" + HEAD + MODELS, 7, "expected a single document"),
    ("tab-indentation", HEAD + "\tmodels: []\n", 5, "invalid YAML"),
    ("unclosed-quote", HEAD + '    country: "NO\n' + MODELS, 5, "invalid YAML"),  # where the quote opens
    ("concurrency-0", HEAD + "    concurrency: 0\n" + MODELS, 5, "must be at least 1"),
    ("concurrency-too-high", HEAD + "    concurrency: 100000\n" + MODELS, 5, "must be at most 1000"),
    ("negative-retries", HEAD + "    max_retries: -1\n" + MODELS, 5, "must be at least 0"),
    ("retries-too-many", HEAD + "    max_retries: 1000000\n" + MODELS, 5, "must be at most 100"),
    ("timeout-a-year", HEAD + "    timeout: 31536000\n" + MODELS, 5, "must be at most 86400 seconds"),
    ("startup-timeout-huge", HEAD + "    launch:\n      command: serve\n      startup_timeout: 1.0e+300\n" + MODELS, 7, "must be at most"),
    ("max-reply-bytes-tiny", HEAD + "    max_reply_bytes: 10\n" + MODELS, 5, "must be at least 1024"),
    ("max-reply-bytes-huge", HEAD + "    max_reply_bytes: 1099511627776\n" + MODELS, 5, "must be at most"),
    ("python-tag-in-extra-body", HEAD + "    extra_body:\n      x: !!python/object:os.system [ls]\n" + MODELS, 6, "cannot be read"),
    ("binary-in-extra-body", HEAD + "    extra_body:\n      x: !!binary aGVsbG8=\n" + MODELS, 6, "holds a bytes value"),
    ("set-in-extra-body", HEAD + "    extra_body:\n      x: !!set {a, b}\n" + MODELS, 6, "holds a set value"),
    ("timestamp-in-extra-body", HEAD + "    extra_body:\n      x: 2001-12-14t21:59:43.10-05:00\n" + MODELS, 6, "holds a datetime value"),
    ("integer-key-in-extra-body", HEAD + "    extra_body:\n      1: a\n" + MODELS, 6, "has a key that is not text (1)"),
    ("null-key-in-extra-body", HEAD + "    extra_body:\n      ~: a\n" + MODELS, 6, "has a key that is not text (None)"),
    ("merge-key", HEAD + "    <<: {api: openai}\n" + MODELS, 5, "unknown key"),
    ("models-a-mapping", HEAD + "    models:\n      m: {}\n", 6, "expected a list"),
    ("model-id-a-number", HEAD + "    models:\n      - id: 42\n", 6, "expected a string"),
    ("model-id-empty", HEAD + '    models:\n      - id: ""\n', 6, "must not be empty"),
    ("providers-a-list", "providers:\n  - fake\n", 2, "expected a mapping"),
    ("root-a-scalar", "just text\n", 1, "expected a mapping"),
    ("base-url-javascript", "providers:\n  fake:\n    api: openai\n    base_url: javascript:alert(1)\n" + MODELS, 4, "not an http:// or https:// URL"),
    ("unknown-api", "providers:\n  fake:\n    api: soap\n    base_url: http://127.0.0.1:9/v1\n" + MODELS, 3, "is not one of"),
]


@pytest.mark.parametrize(("text", "line", "phrase"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_providers_file_is_one_line_with_its_file_and_line(tmp_path: Path, text: str | bytes, line: int, phrase: str) -> None:
    path = tmp_path / "providers.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    elapsed = time.monotonic() - started
    message = str(refused.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith(f"{path}:{line}: "), message
    assert phrase in message
    # Generous on a loaded machine: refusing costs a moment, loading a bomb cost minutes.
    assert elapsed < 1.0


def test_the_suite_is_as_large_as_promised() -> None:
    assert len(BROKEN) >= 40
    assert len({b[0] for b in BROKEN}) == len(BROKEN)


@pytest.mark.parametrize("command", [["run", "-p", "fake"], ["models", "-p", "fake"]])
@pytest.mark.parametrize("broken", ["billion-laughs-in-extra-body", "20000-deep-flow-list", "lone-surrogate-in-model-id", "5000-digit-concurrency"])
def test_the_command_line_refuses_them_in_one_line_with_status_2(tmp_path: Path, broken: str, command: list[str]) -> None:
    text = next(b[1] for b in BROKEN if b[0] == broken)
    path = tmp_path / "providers.yaml"
    path.write_text(str(text), encoding="utf-8")
    out = ["--out", str(tmp_path / "out")] if command[0] == "run" else []
    ran = CliRunner().invoke(app, [*command, "--config", str(path), *out])
    assert ran.exit_code == 2
    assert ran.exception is None or isinstance(ran.exception, SystemExit)
    assert ran.output.startswith(f"llmprobe: error: {path}:") and ran.output.count("\n") == 1, ran.output
    assert not (tmp_path / "out").exists()


def test_a_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    """Ten levels: 10**10 strings once expanded, which took minutes and gigabytes to load."""
    path = tmp_path / "providers.yaml"
    path.write_text(HEAD + "    extra_body:\n" + laughs(10, width=10) + MODELS)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(path)
    assert time.monotonic() - started < 1.0


def test_a_large_honest_file_still_loads(tmp_path: Path) -> None:
    """The limits are far from real files: a thousand models, each with a comment, and shared anchors."""
    models = "".join(f"      - id: model-{i}\n        comment: &c{i} 'number {i}'\n" for i in range(1000))
    path = tmp_path / "providers.yaml"
    path.write_text(HEAD + "    extra_body:\n      a: &t {temperature: 0}\n      b: *t\n    models:\n" + models)
    config = load_config(path)
    assert len(config.providers["fake"].models) == 1000
