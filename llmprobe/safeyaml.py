"""A hardened reader of YAML that people write (providers.yaml): limits, line numbers, plain values.

A hostile or mistaken file costs a moment to refuse, never a hang or a traceback: size,
depth and alias expansion are bounded, and every refusal names file:line and the key path.
Values are read from composed nodes by type, so `yes`, `010` and `1:30` are refused rather
than believed as YAML 1.1 would.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from llmprobe.errors import ConfigError, excerpt
from llmprobe.files import TooLarge, Unreadable, read_bounded

#: Limits that make a hostile providers.yaml cost a moment to refuse, far above any real one.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_DEPTH = 32
#: Values counted once per place they are used, aliases expanded as loading would: a few per
#: model, so thousands of models fit, and an alias bomb (a billion laughs) does not.
MAX_VALUES = 100_000
#: Characters in one number: int() of a 5,000-digit one raises, a float of one is rounded anyway.
MAX_NUMBER_CHARS = 32
#: The longest timeout accepted: anything longer is a typo, and asyncio's timers dislike huge values.
MAX_SECONDS = 86_400

TAG = "tag:yaml.org,2002:"
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
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

#: A mapping's entries by key: the key's node (for its line) and the value's.
Entries = dict[str, tuple[ScalarNode, Node]]
#: Each reader returns the value of its own key, so a mapping of them yields values of many types.
FieldReader = Callable[[Node, str], Any]


def compose(path: Path) -> Node | None:
    """The file's YAML as `yaml.compose` nodes (None for an empty file), within the limits above.

    Nodes rather than loaded values, so every error can name its line, and so YAML 1.1
    surprises (`yes` as a boolean, `010` as 8) can be refused instead of silently believed.
    Raises ConfigError with file:line.
    """
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except TooLarge as exc:  # the start of the file is where it goes wrong
        raise ConfigError(f"{path}:1: {exc}, not a providers file") from None
    except Unreadable as exc:
        raise ConfigError(f"{path}: {exc}") from None
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
    return root


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
    if node.tag in (TAG + "int", TAG + "float") and len(node.value) > MAX_NUMBER_CHARS:
        problem = f"a number of {len(node.value)} characters; at most {MAX_NUMBER_CHARS}"
        raise ConfigError(f"{file}:{node.start_mark.line + 1}: {problem}")


class NodeReader:
    """Reads composed nodes by type, so that every error can name its line and key path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, node: Node, path: str, problem: str) -> ConfigError:
        where = f"{self.file}:{node.start_mark.line + 1}"
        return ConfigError(f"{where}: {path}: {problem}" if path else f"{where}: {problem}")

    def fields(self, node: Node, path: str, readers: dict[str, FieldReader]) -> tuple[Entries, dict[str, Any]]:
        """The mapping's entries, and each value read by its key's reader, in file order."""
        entries = self.mapping(node, path, readers)
        values = {key: readers[key](value, f"{path}.{key}") for key, (_, value) in entries.items()}
        return entries, values

    def mapping(self, node: Node, path: str, known: Collection[str] | None) -> Entries:
        """Entries by key; refuses duplicate keys, which plain YAML loading lets the last one win silently."""
        if not isinstance(node, MappingNode):
            raise self.error(node, path, f"expected a mapping, got {kind(node)}")
        entries: Entries = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, path, f"a key must be plain text, not {kind(key_node)}")
            key = key_node.value
            key_path = f"{path}.{key}" if path else key
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                raise self.error(key_node, key_path, f"duplicate key (first on line {first})")
            if known is not None and key not in known:
                raise self.error(key_node, key_path, self.unknown_key(key, known, path))
            entries[key] = (key_node, value_node)
        return entries

    def unknown_key(self, key: str, known: Collection[str], path: str) -> str:
        """The message for a key not in `known`: the closest known one, or all of them."""
        close = difflib.get_close_matches(key, list(known), n=1)
        if close:
            return f"unknown key, did you mean '{close[0]}'?"
        return f"unknown key (known keys: {', '.join(known)})"

    def sequence(self, node: Node, path: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, path, f"expected a list, got {kind(node)}")
        return node.value

    def text(self, node: Node, path: str) -> str:
        if isinstance(node, ScalarNode) and node.tag == TAG + "str":
            return node.value
        quotable = isinstance(node, ScalarNode) and node.tag != TAG + "null"
        hint = "; put it in quotes if it is text" if quotable else ""
        raise self.error(node, path, f"expected a string, got {kind(node)}{hint}")

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
        if not (isinstance(node, ScalarNode) and node.tag == TAG + "bool"):
            raise self.error(node, path, f"expected true or false, got {kind(node)}")
        if node.value.lower() not in ("true", "false"):
            raise self.error(node, path, f"{node.value!r} is a boolean only in old YAML; write true or false")
        return node.value.lower() == "true"

    def integer(self, node: Node, path: str, minimum: int, maximum: int = 2**31 - 1) -> int:
        if not (isinstance(node, ScalarNode) and node.tag == TAG + "int"):
            raise self.error(node, path, f"expected an integer, got {kind(node)}")
        if not _INTEGER.fullmatch(node.value):
            raise self.error(node, path, f"write {node.value!r} as a plain decimal number")
        value = int(node.value)
        if value < minimum:
            raise self.error(node, path, f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise self.error(node, path, f"must be at most {maximum}, got {value}")
        return value

    def number(self, node: Node, path: str, expected: str) -> float:
        """A plain decimal number (`expected` names it in the message): no YAML 1.1 sexagesimals or octals."""
        if not (isinstance(node, ScalarNode) and node.tag in (TAG + "int", TAG + "float")):
            raise self.error(node, path, f"expected {expected}, got {kind(node)}")
        if not _NUMBER.fullmatch(node.value):
            raise self.error(node, path, f"write {node.value!r} as a plain decimal number")
        return float(node.value)

    def seconds(self, node: Node, path: str, *, zero: bool = False) -> float:
        """A number of seconds up to a day; positive, or also 0 with `zero`."""
        value = self.number(node, path, "a number of seconds")
        if zero and value == 0:
            return value
        if not 0 < value < math.inf:
            kind = "0 or a positive" if zero else "a positive"
            raise self.error(node, path, f"must be {kind} number of seconds, got {node.value}")
        if value > MAX_SECONDS:
            raise self.error(node, path, f"must be at most {MAX_SECONDS} seconds (a day), got {node.value}")
        return value

    def json_object(self, node: Node, path: str) -> dict[str, Any]:
        """A mapping passed through to the provider as JSON, so any YAML value that JSON can carry."""
        if not isinstance(node, MappingNode):
            raise self.error(node, path, f"expected a mapping of request fields, got {kind(node)}")
        try:
            value = yaml.SafeLoader("").construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.error(node, path, f"cannot be read: {exc.problem}") from None
        problem = _not_json(value)
        if problem:
            raise self.error(node, path, f"{problem}; put it in quotes if it is text")
        return value

    def url(self, node: Node, path: str) -> str:
        value = self.text(node, path)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(node, path, f"{value!r} is not an http:// or https:// URL")
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


def kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _KINDS.get(node.tag.removeprefix(TAG), f"a {node.tag} value")
