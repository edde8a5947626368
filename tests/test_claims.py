"""`llmprobe models --claims`: what a provider's own listing declares, held against the verdicts.

Fake listings on 127.0.0.1 (an OpenRouter-like /models, Ollama's /api/show, Gemini's paged
models list, Anthropic's /v1/models) script an honest and a lying catalog against one results
file; hostile listings (wrong types, too large, not JSON) must end in one error line.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from llmprobe import claims, results_file
from llmprobe.cli import app
from llmprobe.config import ProviderConfig, load_config
from llmprobe.dialects import get_dialect
from llmprobe.dialects.declared import Claim, Declarations
from llmprobe.render.evidence import layout_columns
from llmprobe.render.html import render_html
from llmprobe.render.page import Page
from llmprobe.results import Evidence, Modality, ModelResult, ModeResult, ProviderResult, Verdict
from support.configs import write_providers
from support.fake_openai import Canned, FakeOpenAI, RecordedRequest, json_response

runner = CliRunner()
KEY_ENV = {"LLMPROBE_TEST_KEY": "sk-secret"}

#: What the probes found: tools, forcing and logprobs do not work, the rest does; a picture was
#: refused (answered 400), and the largest reply was 300 tokens from a 40-token prompt.
MEASURED = {
    "json": Verdict.TRUE,
    "jsonSchema": Verdict.TRUE,
    "tools": Verdict.FALSE,
    "toolCallRequired": Verdict.FALSE,
    "seed": Verdict.TRUE,
    "stopSequence": Verdict.TRUE,
    "topLogprobs": Verdict.FALSE,
    "maxTokens": Verdict.FLAKY,
    "webSearch": Verdict.UNKNOWN,
    "citations": Verdict.FALSE,
}


def measured(model_id: str) -> ModelResult:
    probes = [
        Evidence("Text", "pass", status=200, tokens_in=40, tokens_out=300),
        Evidence("Image-jpg-Inline", "unsupported", status=400),
    ]
    modes = {mode: ModeResult(verdicts=dict(MEASURED), probes=probes) for mode in ("sync", "stream")}
    return ModelResult(model_id, in_={"text": Modality(inline=True)}, out={"text": Modality(inline=True)}, modes=modes)


def write_results(out: Path, provider: str, *model_ids: str) -> None:
    results_file.save(ProviderResult(provider, "2026-12-07T00:00:00Z", "test", [measured(m) for m in model_ids]), out / f"{provider}.json")


def config(tmp_path: Path, name: str, api: str, base_url: str, models: list[str], **extra: Any) -> Path:
    provider = {"api": api, "base_url": base_url, "api_key_env": "LLMPROBE_TEST_KEY", "models": models, **extra}
    return write_providers(tmp_path, {name: provider})


def claims_of(tmp_path: Path, name: str, conf: Path, *more: str) -> Any:
    return runner.invoke(
        app, ["models", "-p", name, "--claims", "--config", str(conf), "--out", str(tmp_path / "out"), *more], env=KEY_ENV
    )


def verdicts(stdout: str) -> dict[tuple[str, str], str]:
    return {(f["model"], f["claim"]): f["verdict"] for f in json.loads(stdout)["findings"]}


def routed(routes: Mapping[str, Callable[[RecordedRequest], Canned]]) -> Callable[[RecordedRequest], Canned]:
    """Answers by path; anything else 404, as a server without the route does."""

    def answer(request: RecordedRequest) -> Canned:
        handler = routes.get(urlsplit(request.path).path)
        return handler(request) if handler else json_response({"error": "not found"}, status=404)

    return answer


# --- OpenRouter-like /models -----------------------------------------------------------------------

HONEST_PARAMETERS = ["response_format", "structured_outputs", "seed", "stop", "max_tokens", "temperature"]
LYING_PARAMETERS = [*HONEST_PARAMETERS, "tools", "tool_choice", "logprobs"]


def openrouter(parameters: list[str], modalities: list[str], **more: Any) -> Canned:
    entry = {
        "id": "vendor/model",
        "supported_parameters": parameters,
        "architecture": {"input_modalities": modalities, "output_modalities": ["text"]},
        **more,
    }
    # Another model's entry, broken: it must not hide the one asked about.
    other = {"id": "vendor/other", "supported_parameters": "tools", "architecture": 7}
    return json_response({"data": [other, entry]})


@pytest.mark.parametrize(
    ("parameters", "modalities", "contradicted", "status"),
    [
        pytest.param(HONEST_PARAMETERS, ["text"], set(), 0, id="honest"),
        pytest.param(
            LYING_PARAMETERS,
            ["text", "image"],
            {
                "supported_parameters: tools",
                "supported_parameters: tool_choice",
                "supported_parameters: logprobs",
                "architecture.input_modalities: image",
            },
            1,
            id="lying",
        ),
    ],
)
def test_openrouter_catalog_against_the_verdicts(
    tmp_path: Path, parameters: list[str], modalities: list[str], contradicted: set[str], status: int
) -> None:
    write_results(tmp_path / "out", "router", "vendor/model")
    with FakeOpenAI([openrouter(parameters, modalities)]) as server:
        conf = config(tmp_path, "router", "openai", server.base_url, ["vendor/model"])
        result = claims_of(tmp_path, "router", conf, "--json")
    assert result.exit_code == status, result.output
    found = verdicts(result.stdout)
    assert {claim for (_, claim), v in found.items() if v == "contradicted"} == contradicted
    # Declared absent and measured absent agrees; the unknown web search measures nothing.
    assert found[("vendor/model", "supported_parameters: top_logprobs")] == "confirmed"
    assert found[("vendor/model", "supported_parameters: web_search_options")] == "not measured"
    assert found[("vendor/model", "architecture.input_modalities: text")] == "confirmed"
    assert found[("vendor/model", "supported_parameters: max_tokens")] == "confirmed"  # flaky: honoured, if not always
    (request,) = server.requests
    assert (request.method, request.path) == ("GET", "/v1/models")


def test_the_table_and_the_kept_claims(tmp_path: Path) -> None:
    write_results(tmp_path / "out", "router", "vendor/model")
    with FakeOpenAI([openrouter(LYING_PARAMETERS, ["text"])]) as server:
        conf = config(tmp_path, "router", "openai", server.base_url, ["vendor/model", "vendor/gone"])
        result = claims_of(tmp_path, "router", conf)
    assert result.exit_code == 1, result.output
    header, first, *_ = result.stdout.splitlines()
    assert header.split() == ["model", "claim", "declared", "measured", "verdict"]
    assert first.split()[:3] == ["vendor/model", "supported_parameters:", "tools"] and first.endswith("contradicted")
    kept = claims.load(tmp_path / "out" / "claims" / "router.json")
    assert kept.provider == "router" and set(kept.models) == {"vendor/model"}
    assert Claim("supported_parameters: tools", "tools", True) in kept.models["vendor/model"]
    assert "not listed: vendor/gone" in result.stderr


def test_without_results_every_claim_is_not_measured(tmp_path: Path) -> None:
    with FakeOpenAI([openrouter(LYING_PARAMETERS, ["text"])]) as server:
        conf = config(tmp_path, "router", "openai", server.base_url, ["vendor/model"])
        result = claims_of(tmp_path, "router", conf, "--json")
    assert result.exit_code == 0, result.output
    assert set(verdicts(result.stdout).values()) == {"not measured"}


def test_a_listing_without_declarations_says_so(tmp_path: Path) -> None:
    """OpenAI's own /v1/models (and llama.cpp's) name the models and nothing they can do."""
    with FakeOpenAI([json_response({"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "x"}]})]) as server:
        conf = config(tmp_path, "openai", "openai", server.base_url, ["m"])
        result = claims_of(tmp_path, "openai", conf, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []
    assert "declares nothing llmprobe measures about the configured models" in result.stderr


@pytest.mark.parametrize(("n_ctx", "status"), [(512, 0), (16, 1)], ids=["honest", "lying"])
def test_llama_cpp_modalities_and_context(tmp_path: Path, n_ctx: int, status: int) -> None:
    """The shape llama.cpp's server lists (recorded from the local model's server)."""
    write_results(tmp_path / "out", "local", "SmolLM2-135M-Instruct")
    entry = {
        "id": "SmolLM2-135M-Instruct",
        "object": "model",
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "owned_by": "llamacpp",
        "meta": {"n_ctx": n_ctx, "n_ctx_train": 8192, "n_params": 134515008},
    }
    listing = {"models": [{"name": "SmolLM2-135M-Instruct", "capabilities": ["completion"]}], "object": "list", "data": [entry]}
    with FakeOpenAI([json_response(listing)]) as server:
        conf = config(tmp_path, "local", "openai", server.base_url, ["SmolLM2-135M-Instruct"])
        result = claims_of(tmp_path, "local", conf, "--json")
    assert result.exit_code == status, result.output
    found = verdicts(result.stdout)
    assert found[("SmolLM2-135M-Instruct", "meta.n_ctx")] == ("confirmed" if status == 0 else "contradicted")
    assert found[("SmolLM2-135M-Instruct", "architecture.input_modalities: image")] == "confirmed"  # declared no, refused


def test_mistral_capabilities_flags(tmp_path: Path) -> None:
    write_results(tmp_path / "out", "mistral", "m")
    listing = {"data": [{"id": "m", "capabilities": {"completion_chat": True, "function_calling": True, "vision": False}}]}
    with FakeOpenAI([json_response(listing)]) as server:
        conf = config(tmp_path, "mistral", "openai", server.base_url, ["m"])
        result = claims_of(tmp_path, "mistral", conf, "--json")
    assert result.exit_code == 1, result.output
    assert verdicts(result.stdout) == {
        ("m", "capabilities.function_calling"): "contradicted",
        ("m", "capabilities.completion_chat"): "confirmed",
        ("m", "capabilities.vision"): "confirmed",
    }


# --- Ollama /api/show ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capabilities", "status", "tools"),
    [
        pytest.param(["completion", "vision", "insert"], 1, "confirmed", id="honest-tools-lying-vision"),
        pytest.param(["completion", "tools", "thinking"], 1, "contradicted", id="lying-tools"),
        pytest.param(["completion"], 0, "confirmed", id="honest"),
    ],
)
def test_ollama_show_capabilities(tmp_path: Path, capabilities: list[str], status: int, tools: str) -> None:
    write_results(tmp_path / "out", "ollama", "gemma3:4b")

    def show(request: RecordedRequest) -> Canned:
        if request.json == {"model": "gemma3:4b"}:
            return json_response({"details": {"family": "gemma3"}, "capabilities": capabilities})
        return json_response({"error": f"model '{request.json['model']}' not found"}, status=404)

    with FakeOpenAI(routed({"/api/show": show})) as server:
        root = server.base_url.removesuffix("/v1")
        conf = write_providers(tmp_path, {"ollama": {"api": "ollama", "base_url": root, "models": ["gemma3:4b", "absent:1b"]}})
        result = runner.invoke(app, ["models", "-p", "ollama", "--claims", "--json", "--config", str(conf), "--out", str(tmp_path / "out")])
    assert result.exit_code == status, result.output
    found = verdicts(result.stdout)
    assert found[("gemma3:4b", "capabilities: tools")] == tools
    assert found[("gemma3:4b", "capabilities: vision")] == ("contradicted" if "vision" in capabilities else "confirmed")
    assert json.loads(result.stdout)["not_listed"] == ["absent:1b"]
    assert [(r.method, r.path, r.json) for r in server.requests] == [
        ("POST", "/api/show", {"model": "gemma3:4b"}),
        ("POST", "/api/show", {"model": "absent:1b"}),
    ]


# --- Gemini models list, paged ----------------------------------------------------------------------


def gemini_pages(output_limit: int) -> Callable[[RecordedRequest], Canned]:
    """Two pages: a model that cannot generateContent on the first, the probed one on the second."""

    def page(request: RecordedRequest) -> Canned:
        token = parse_qs(urlsplit(request.path).query).get("pageToken")
        if token is None:
            embed = {"name": "models/embed", "supportedGenerationMethods": ["embedContent"]}
            return json_response({"models": [embed], "nextPageToken": "p2"})
        model = {
            "name": "models/gemini-x",
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": output_limit,
            "thinking": True,
        }
        return json_response({"models": [model]})

    return page


@pytest.mark.parametrize(("limit", "status", "verdict"), [(8192, 0, "confirmed"), (256, 1, "contradicted")], ids=["honest", "lying"])
def test_gemini_methods_and_limits(tmp_path: Path, limit: int, status: int, verdict: str) -> None:
    write_results(tmp_path / "out", "gemini", "gemini-x")
    with FakeOpenAI(routed({"/v1beta/models": gemini_pages(limit)})) as server:
        base = server.base_url.removesuffix("/v1") + "/v1beta"
        conf = config(tmp_path, "gemini", "gemini", base, ["embed", "gemini-x"])
        result = claims_of(tmp_path, "gemini", conf, "--json")
    assert result.exit_code == status, result.output
    found = verdicts(result.stdout)
    assert found[("gemini-x", "outputTokenLimit")] == verdict
    assert found[("gemini-x", "inputTokenLimit")] == "confirmed"
    assert found[("gemini-x", "supportedGenerationMethods: generateContent")] == "confirmed"
    # Declared unable to generateContent, and never probed.
    assert found[("embed", "supportedGenerationMethods: generateContent")] == "not measured"
    # Each page once, though two models were looked for on the first.
    assert [parse_qs(urlsplit(r.path).query).get("pageToken") for r in server.requests] == [None, ["p2"]]


# --- Anthropic /v1/models, and the dialects that declare nothing ----------------------------------


def test_anthropic_capabilities(tmp_path: Path) -> None:
    write_results(tmp_path / "out", "anthropic", "claude-x")
    entry = {
        "id": "claude-x",
        "type": "model",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
        "capabilities": {"citations": {"supported": True}, "image_input": {"supported": False}, "batch": {"supported": True}},
    }
    with FakeOpenAI(routed({"/v1/models": lambda r: json_response({"data": [entry], "has_more": False})})) as server:
        conf = config(tmp_path, "anthropic", "anthropic", server.base_url.removesuffix("/v1"), ["claude-x"])
        result = claims_of(tmp_path, "anthropic", conf, "--json")
    assert result.exit_code == 1, result.output
    assert verdicts(result.stdout) == {
        ("claude-x", "capabilities.citations"): "contradicted",
        ("claude-x", "capabilities.image_input"): "confirmed",
        ("claude-x", "max_input_tokens"): "confirmed",
        ("claude-x", "max_tokens"): "confirmed",
    }


def test_an_api_that_declares_nothing_says_so_and_sends_nothing(tmp_path: Path) -> None:
    with FakeOpenAI([json_response({"models": []})]) as server:
        conf = config(tmp_path, "cohere", "cohere", server.base_url.removesuffix("/v1"), ["command-x"])
        result = claims_of(tmp_path, "cohere", conf)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "declares nothing" in result.stderr
    assert server.requests == []
    assert not (tmp_path / "out" / "claims").exists()


# --- Hostile listings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"supported_parameters": "tools"}, "supported_parameters is not a list of strings"),
        ({"supported_parameters": ["tools", 7]}, "supported_parameters is not a list of strings"),
        ({"architecture": {"input_modalities": {"image": True}}}, "architecture.input_modalities is not a list of strings"),
        ({"capabilities": ["tools"]}, "capabilities is not an object"),
        ({"capabilities": {"vision": "yes"}}, "capabilities.vision is neither a boolean"),
        ({"context_length": "8192"}, "context_length is not a token count"),
        ({"context_length": True}, "context_length is not a token count"),
        ({"top_provider": {"max_completion_tokens": -1}}, "top_provider.max_completion_tokens is not a token count"),
    ],
)
def test_a_declaration_of_the_wrong_type_is_one_error_line(tmp_path: Path, entry: dict[str, Any], problem: str) -> None:
    with FakeOpenAI([json_response({"data": [{"id": "m", **entry}]})]) as server:
        conf = config(tmp_path, "router", "openai", server.base_url, ["m"])
        result = claims_of(tmp_path, "router", conf)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("llmprobe: error: listing the models of router failed: ")
    assert problem in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep"),
        pytest.param(b"<html>502 Bad Gateway</html>", id="not-json"),
        pytest.param(json.dumps({"data": {"id": "m"}}).encode(), id="data-not-a-list"),
        pytest.param(json.dumps({"data": [{"id": "m", "supported_parameters": ["x" * 100] * 20_000}]}).encode(), id="huge"),
    ],
)
def test_an_unreadable_listing_is_one_error_line(tmp_path: Path, body: bytes) -> None:
    with FakeOpenAI([Canned(200, {"Content-Type": "application/json"}, body)]) as server:
        conf = config(tmp_path, "router", "openai", server.base_url, ["m"], max_reply_bytes=1024 * 1024)
        result = claims_of(tmp_path, "router", conf)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("llmprobe: error: listing the models of router failed: ")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output


def test_a_declaration_nothing_measures_fails_at_import() -> None:
    with pytest.raises(ValueError, match="unknown 'tool'"):
        Declarations(lists={"supported_parameters": {"tools": "tool"}})
    with pytest.raises(ValueError, match="unknown 'toolsBiased'"):
        Declarations(flags={"capabilities": {"bias": "toolsBiased"}})
    with pytest.raises(ValueError, match="tokens_in or tokens_out"):
        Declarations(limits={"context_length": "tools"})


def test_every_dialect_answers_the_claims_protocol() -> None:
    """Those that declare something ask for it; the others ask nothing."""
    asks = {
        api: get_dialect(api, "http://x", None).claims_call("m", None) is not None
        for api in ("openai", "openai-responses", "anthropic", "gemini", "ollama", "cohere", "cloudflare")
    }
    assert asks == {
        "openai": True,
        "openai-responses": True,
        "anthropic": True,
        "gemini": True,
        "ollama": True,
        "cohere": False,
        "cloudflare": False,
    }


# --- The claims file, and the HTML page -------------------------------------------------------------


def kept_claims(tmp_path: Path, declared: dict[str, list[Claim]], provider: str = "router") -> Path:
    out = tmp_path / "out"
    claims.save(claims.Claims(provider, "2026-12-07T00:00:00Z", "test", declared), out)
    return out


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", "not an llmprobe claims file"),
        ('{"schema_version": 9, "provider": "router", "fetched_at": "", "llmprobe_version": "", "models": {}}', "newer llmprobe"),
        (
            '{"schema_version": 1, "provider": "router", "fetched_at": "", "llmprobe_version": "", '
            '"models": {"m": [{"name": "x", "measured_by": "nothing", "supported": true, "limit": null}]}}',
            "nothing llmprobe measures",
        ),
        (
            '{"schema_version": 1, "provider": "router", "fetched_at": "", "llmprobe_version": "", '
            '"models": {"m": [{"name": "x", "measured_by": "tools", "supported": "yes", "limit": null}]}}',
            "models.m[0].supported: wrong type",
        ),
        ('{"schema_version": 1, "provider": "other", "fetched_at": "", "llmprobe_version": "", "models": {}}', "not of 'router'"),
        ("{", "not valid JSON"),
        # An id of its own: the text itself would be a test id of 16 MB, sent to and fro by every worker.
        pytest.param(" " * (claims.MAX_CLAIMS_BYTES + 1), "larger than", id="one-byte-too-large"),
    ],
)
def test_a_broken_claims_file_stops_the_page_in_one_line(tmp_path: Path, text: str, problem: str) -> None:
    out = tmp_path / "out"
    write_results(out, "router", "m")
    (out / "claims").mkdir()
    (out / "claims" / "router.json").write_text(text)
    conf = config(tmp_path, "router", "openai", "http://127.0.0.1:9/v1", ["m"])
    result = runner.invoke(app, ["render", "--format", "html", "--config", str(conf), "--out", str(out)])
    assert result.exit_code == 2
    assert problem in result.stderr and len(result.stderr.splitlines()) == 1


def test_the_claims_file_round_trips(tmp_path: Path) -> None:
    declared = {"m": [Claim("supported_parameters: tools", "tools", True), Claim("context_length", "tokens_in", True, 8192)]}
    out = kept_claims(tmp_path, declared)
    assert claims.load_beside(out, "router") == claims.Claims("router", "2026-12-07T00:00:00Z", "test", declared)
    assert claims.load_beside(out, "absent") is None


def html_page(listing: ProviderConfig, provider: ProviderResult, kept: claims.Claims) -> str:
    out = StringIO()
    render_html(Page([(listing, provider)], "detailed", True, claims={provider.provider: kept}), out)
    return out.getvalue()


def contradicted_cells(page: str) -> dict[int, dict[int, str]]:
    """Per row (data-i) with marks, its marked cells' columns and titles."""
    marked: dict[int, dict[int, str]] = {}
    for row, cells in re.findall(r'<tr data-i="(\d+)"[^>]*>(.*?)</tr>', page):
        for column, title in re.findall(r'<td data-c="(\d+)" tabindex="-1" class="contradicted" title="([^"]*)"', cells):
            marked.setdefault(int(row), {})[int(column)] = html.unescape(title)
    return marked


@pytest.mark.parametrize("lying", [False, True], ids=["honest", "lying"])
def test_the_html_page_marks_the_contradicted_cells(tmp_path: Path, lying: bool) -> None:
    declared = [Claim("supported_parameters: tools", "tools", lying), Claim("architecture.input_modalities: image", "in:image", lying)]
    out = kept_claims(tmp_path, {"m": declared})
    write_results(out, "router", "m")
    conf = config(tmp_path, "router", "openai", "http://127.0.0.1:9/v1", ["m"])
    result = runner.invoke(app, ["render", "--format", "html", "--config", str(conf), "--out", str(out)])
    assert result.exit_code == 0, result.output
    marked = contradicted_cells(result.stdout)
    if not lying:
        assert marked == {}
        return
    titles = [c.title for c in layout_columns("detailed")]
    tool, media = titles.index("Tool"), titles.index("➛In")
    fetched = "fetched 2026-12-07T00:00:00Z"
    assert marked == {
        row: {
            tool: f"contradicts the provider's listing: supported_parameters: tools (declared yes, {fetched})",
            media: f"contradicts the provider's listing: architecture.input_modalities: image (declared yes, {fetched})",
        }
        for row in (0, 1)  # both modes of the model
    }
    assert 'id="claims"' in result.stdout


def test_a_cell_is_marked_only_in_the_mode_that_contradicts(tmp_path: Path) -> None:
    result = measured("m")
    result.modes["stream"].verdicts["tools"] = Verdict.TRUE
    provider = ProviderResult("router", "2026-12-07T00:00:00Z", "test", [result])
    kept = claims.Claims("router", "now", "test", {"m": [Claim("supported_parameters: tools", "tools", True)]})
    listing = load_config(config(tmp_path, "router", "openai", "http://127.0.0.1:9/v1", ["m"])).providers["router"]
    page = html_page(listing, provider, kept)
    assert list(contradicted_cells(page)) == [0]  # sync, where tools are false; stream works
    (finding,) = claims.judge(kept.models, provider)
    assert (finding.verdict, finding.measured) == ("contradicted", "sync: no, stream: works")


def test_a_broken_results_file_fails_before_anything_is_fetched(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "router.json").write_text('{"schema_version": 2, "provider": 7}')
    with FakeOpenAI([openrouter(LYING_PARAMETERS, ["text"])]) as server:
        conf = config(tmp_path, "router", "openai", server.base_url, ["vendor/model"])
        result = claims_of(tmp_path, "router", conf)
    assert result.exit_code == 2
    assert result.stderr.startswith("llmprobe: error: ") and "router.json" in result.stderr
    assert server.requests == []


def test_a_hostile_claim_name_is_text_on_the_page(tmp_path: Path) -> None:
    """A claims file is edited by hand like a results file: its words are data, never markup."""
    hostile = '<img src=x onerror="window.pwned=1">'
    kept = claims.Claims("router", "</script>", "test", {"m": [Claim(hostile, "tools", True)]})
    provider = ProviderResult("router", "2026-12-07T00:00:00Z", "test", [measured("m")])
    listing = load_config(config(tmp_path, "router", "openai", "http://127.0.0.1:9/v1", ["m"])).providers["router"]
    page = html_page(listing, provider, kept)
    assert "<img" not in page and page.count("</script>") == 2  # the page's own two scripts
    assert hostile in html.unescape(next(iter(contradicted_cells(page)[0].values())))


@pytest.mark.parametrize("lying", [False, True], ids=["honest", "lying"])
@pytest.mark.parametrize("command", [["render"], ["render", "--format", "terminal"], ["show"], ["explain", "router", "m"]])
def test_every_text_output_names_a_contradicted_claim(tmp_path: Path, lying: bool, command: list[str]) -> None:
    # The markdown and terminal scoreboards say it under their table, explain at its head.
    declared = [Claim("supported_parameters: tools", "tools", lying)]
    out = kept_claims(tmp_path, {"m": declared})
    write_results(out, "router", "m")
    conf = config(tmp_path, "router", "openai", "http://127.0.0.1:9/v1", ["m"])
    result = runner.invoke(app, [*command, "--config", str(conf), "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = "m: the provider's listing declares supported_parameters: tools (yes), measured sync: no, stream: no"
    flat = " ".join(result.stdout.replace("\\_", "_").split())  # markdown escapes the underscores
    assert (said in flat) is lying, result.stdout
    if lying:
        assert "fetched 2026-12-07T00:00:00Z" in flat
