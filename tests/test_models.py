"""`llmprobe models`: live model discovery against a fake provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from llmprobe.cli import app
from llmprobe.client import ProviderClient
from llmprobe.dialects import get_dialect
from llmprobe.errors import ApiError, ErrorKind
from support.configs import write_providers
from support.fake_openai import Canned, FakeOpenAI, RecordedRequest, json_response

runner = CliRunner()

GROQ_ENV = {"GROQ_API_KEY": "gsk-secret"}
CLOUDFLARE_ENV = {"CLOUDFLARE_API_TOKEN": "cf-secret", "CLOUDFLARE_ACCOUNT_ID": "acct42"}


def groq_config(tmp_path: Path, base_url: str, models: list[str]) -> Path:
    provider = {"api": "openai", "base_url": base_url, "api_key_env": "GROQ_API_KEY", "models": models}
    return write_providers(tmp_path, {"groq": provider})


def cloudflare_config(tmp_path: Path, root: str, models: list[str]) -> Path:
    provider = {
        "api": "cloudflare",
        "base_url": f"{root}/client/v4/accounts/{{account_id}}/ai",
        "api_key_env": "CLOUDFLARE_API_TOKEN",
        "account_id_env": "CLOUDFLARE_ACCOUNT_ID",
        "models": models,
    }
    return write_providers(tmp_path, {"cloudflare": provider})


def openai_models(*ids: str) -> Canned:
    return json_response({"object": "list", "data": [{"id": i, "object": "model", "owned_by": "x"} for i in ids]})


#: Three pages of two models per page, five in all, as Workers AI's /models/search pages them.
CLOUDFLARE_PAGES = [["@cf/a/one", "@cf/a/two"], ["@cf/b/three", "@cf/b/four"], ["@cf/c/five"]]


def cloudflare_search(request: RecordedRequest) -> Canned:
    """Route-aware: answers /models/search by its `page` query, anything else with a 404."""
    url = urlsplit(request.path)
    if not url.path.endswith("/ai/models/search"):
        return json_response({"success": False, "errors": [{"code": 7000, "message": "No route"}]}, status=404)
    page = int(parse_qs(url.query)["page"][0])
    names = CLOUDFLARE_PAGES[page - 1]
    info = {"page": page, "per_page": 2, "count": len(names), "total_count": 5}
    models = [{"name": n, "task": {"name": "Text Generation"}} for n in names]
    return json_response({"success": True, "errors": [], "result": models, "result_info": info})


def root_of(server: FakeOpenAI) -> str:
    return server.base_url.removesuffix("/v1")


def test_openai_listing_marks_configured_not_configured_and_stale(tmp_path: Path) -> None:
    with FakeOpenAI([openai_models("llama-3.1-8b-instant", "whisper-large-v3", "qwen/qwen3-32b")]) as server:
        config = groq_config(tmp_path, server.base_url, ["llama-3.1-8b-instant", "gemma2-9b-it"])
        result = runner.invoke(app, ["models", "--provider", "groq", "--config", str(config)], env=GROQ_ENV)
    assert result.exit_code == 0, result.output
    assert [line.split(maxsplit=1) for line in result.stdout.splitlines()] == [
        ["model", "status"],
        ["gemma2-9b-it", "stale"],
        ["llama-3.1-8b-instant", "configured"],
        ["qwen/qwen3-32b", "not configured"],
        ["whisper-large-v3", "not configured"],
    ]
    assert result.stderr.strip() == "groq: 3 listed, 1 of them configured, 1 stale"
    (request,) = server.requests
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert request.headers["authorization"] == "Bearer gsk-secret"


def test_json_output_shape(tmp_path: Path) -> None:
    with FakeOpenAI([openai_models("b-model", "a-model")]) as server:
        config = groq_config(tmp_path, server.base_url, ["a-model", "old-model"])
        result = runner.invoke(app, ["models", "-p", "groq", "--json", "--config", str(config)], env=GROQ_ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "provider": "groq",
        "models": [
            {"id": "a-model", "status": "configured"},
            {"id": "b-model", "status": "not configured"},
            {"id": "old-model", "status": "stale"},
        ],
    }


def test_cloudflare_pages_until_the_last(tmp_path: Path) -> None:
    with FakeOpenAI(cloudflare_search) as server:
        config = cloudflare_config(tmp_path, root_of(server), ["@cf/b/four", "@cf/gone/model"])
        result = runner.invoke(app, ["models", "-p", "cloudflare", "--json", "--config", str(config)], env=CLOUDFLARE_ENV)
    assert result.exit_code == 0, result.output
    assert [urlsplit(r.path).path for r in server.requests] == ["/client/v4/accounts/acct42/ai/models/search"] * 3
    assert [parse_qs(urlsplit(r.path).query)["page"] for r in server.requests] == [["1"], ["2"], ["3"]]
    assert json.loads(result.stdout)["models"] == [
        {"id": "@cf/a/one", "status": "not configured"},
        {"id": "@cf/a/two", "status": "not configured"},
        {"id": "@cf/b/four", "status": "configured"},
        {"id": "@cf/b/three", "status": "not configured"},
        {"id": "@cf/c/five", "status": "not configured"},
        {"id": "@cf/gone/model", "status": "stale"},
    ]


def test_401_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    denied = json_response({"error": {"message": "Invalid API Key", "code": "invalid_api_key"}}, status=401)
    with FakeOpenAI([denied]) as server:
        config = groq_config(tmp_path, server.base_url, [])
        result = runner.invoke(app, ["models", "-p", "groq", "--config", str(config)], env=GROQ_ENV)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "llmprobe: error: authentication failed for groq: check GROQ_API_KEY\n"


def test_cloudflare_auth_failure_names_both_variables(tmp_path: Path) -> None:
    denied = json_response({"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}, status=401)
    with FakeOpenAI([denied]) as server:
        config = cloudflare_config(tmp_path, root_of(server), [])
        result = runner.invoke(app, ["models", "-p", "cloudflare", "--config", str(config)], env=CLOUDFLARE_ENV)
    assert result.exit_code == 2
    expected = "llmprobe: error: authentication failed for cloudflare: check CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID\n"
    assert result.stderr == expected


def test_missing_key_names_the_variable_and_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with FakeOpenAI([openai_models("x")]) as server:
        config = groq_config(tmp_path, server.base_url, [])
        result = runner.invoke(app, ["models", "-p", "groq", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr == "llmprobe: error: provider groq: environment variable GROQ_API_KEY is not set\n"
    assert server.requests == []


def test_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    config = groq_config(tmp_path, "http://127.0.0.1:9/v1", [])
    result = runner.invoke(app, ["models", "-p", "nope", "--config", str(config)], env=GROQ_ENV)
    assert result.exit_code == 2
    assert result.stderr.startswith("llmprobe: error: unknown provider 'nope'")


def test_connection_refused_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = groq_config(tmp_path, f"http://127.0.0.1:{port}/v1", [])
    result = runner.invoke(app, ["models", "-p", "groq", "--config", str(config)], env=GROQ_ENV)
    assert result.exit_code == 2
    assert result.stderr.startswith("llmprobe: error: listing the models of groq failed: transport: connection failed:")
    assert len(result.stderr.splitlines()) == 1


def test_a_key_echoed_in_an_error_is_redacted(tmp_path: Path) -> None:
    echoed = json_response({"error": {"message": "bad request for key gsk-secret"}}, status=400)
    with FakeOpenAI([echoed]) as server:
        config = groq_config(tmp_path, server.base_url, [])
        result = runner.invoke(app, ["models", "-p", "groq", "--config", str(config)], env=GROQ_ENV)
    assert result.exit_code == 2
    assert "gsk-secret" not in result.stderr and "REDACTED" in result.stderr


def test_paging_is_bounded() -> None:
    """A provider that always answers "more" gets a clear error, not an endless loop."""

    def endless(request: RecordedRequest) -> Canned:
        info = {"page": 1, "per_page": 1, "total_count": 10**9}
        return json_response({"success": True, "errors": [], "result": [{"name": "@cf/x"}], "result_info": info})

    async def list_all(base_url: str) -> list[str]:
        async with httpx.AsyncHTTPTransport() as transport:
            client = ProviderClient(get_dialect("cloudflare", base_url), transport, api_key="k")
            client.MAX_MODEL_PAGES = 3
            return await client.list_models()

    with FakeOpenAI(endless) as server:
        with pytest.raises(ApiError) as caught:
            asyncio.run(list_all(server.base_url))
    assert caught.value.kind is ErrorKind.MALFORMED
    assert "after 3" in str(caught.value)
    assert len(server.requests) == 3


#: A stand-in for llama.cpp's server, run as its own process on the port it is given (tests/support/fake_openai.py):
#: lists two models at /v1/models, notes its pid, nothing else.
FAKE_SERVER = """\
import os, sys, threading
from pathlib import Path

port, pid_file, tests = sys.argv[1:]
sys.path.insert(0, tests)
from support.fake_openai import FakeOpenAI, json_response

Path(pid_file).write_text(str(os.getpid()))
models = {"object": "list", "data": [{"id": "tiny"}, {"id": "other"}]}
with FakeOpenAI(lambda request: json_response(models, 200 if request.path == "/v1/models" else 404), port=int(port)):
    threading.Event().wait()
"""


def test_a_provider_that_launches_its_server_gets_it_started_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "cache" / "models" / "llmprobe-test-weights-0.1"
    weights.mkdir(parents=True)
    (weights / "tiny.gguf").write_bytes(b"GGUF")  # fetched by an earlier run
    monkeypatch.setenv("LLMPROBE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "serve.py").write_text(FAKE_SERVER)
    with socket.socket() as s:  # where nothing answers, as before the first run
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = {
        "api": "openai",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "launch": {
            "command": ["{python}", str(tmp_path / "serve.py"), "{port}", str(tmp_path / "pid"), str(Path(__file__).parent)],
            "model_wheel": "llmprobe-test-weights==0.1",
        },
        "models": ["tiny"],
    }
    config = write_providers(tmp_path, {"local": provider})
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["models", "-p", "local", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert [line.split(maxsplit=1) for line in result.stdout.splitlines()] == [
        ["model", "status"],
        ["other", "not configured"],
        ["tiny", "configured"],
    ]
    assert (tmp_path / "out" / "local-server.log").exists()
    with pytest.raises(ProcessLookupError):  # stopped and reaped once the listing is done
        os.kill(int((tmp_path / "pid").read_text()), 0)
