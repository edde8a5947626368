"""Reading and writing `out/NAME.json`: every value checked against `results`' dataclasses when read,
and written atomically, each model encoded once per change.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from llmprobe import safejson
from llmprobe.errors import LlmprobeError
from llmprobe.files import Unreadable, read_bounded, write_atomically
from llmprobe.results import MODES, ModelResult, ProviderResult, RowKey

#: The version of this file's layout. A reader refuses a file of a later version (it cannot know
#: what its fields mean) and reads files without one as version 1, the layout before the field.
#: 2 added the verdict "inexpressible".
SCHEMA_VERSION = 2


class ResultsError(LlmprobeError):
    """An out/ file is missing, unreadable or not in the expected shape."""


def to_json(result: ProviderResult) -> dict[str, Any]:
    data = asdict(replace(result, models=[]))
    # Keep the documented keys first, in the documented order.
    ordered: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    ordered.update({k: data.pop(k) for k in ("provider", "generated_at", "llmprobe_version", "models")})
    ordered.update(data)
    ordered["incomplete"] = [_row_json(row) for row in result.incomplete]
    if ordered["cost"] is None:
        del ordered["cost"]
    ordered["models"] = [_model_json(model) for model in result.models]
    return ordered


def _row_json(row: RowKey) -> str | dict[str, Any]:
    """A plain id, as files have always had it, unless the row is a `reason: true` one."""
    model_id, reason = row
    return {"id": model_id, "reason": True} if reason else model_id


def _row(data: Any) -> RowKey:
    if isinstance(data, str):
        return (data, False)
    if isinstance(data, dict) and isinstance(data.get("id"), str) and isinstance(data.get("reason", False), bool):
        return (data["id"], data.get("reason", False))
    raise ResultsError(f"incomplete: {_shown(data)} is neither a model id nor {{id, reason}}")


def _model_json(model: ModelResult) -> dict[str, Any]:
    data = asdict(model)
    data["in"] = data.pop("in_")
    ordered = {k: data.pop(k) for k in ("id", "reason", "tier", "probed", "in", "out", "modes")}
    ordered.update(data)
    if ordered["cost"] is None:
        del ordered["cost"]
    for mode in ordered["modes"].values():
        # A single trial's file reads as it always did: no rates, no trial numbers.
        for derived in ("rates", "speed"):
            if not mode[derived]:
                del mode[derived]
        for evidence in mode["probes"]:
            if evidence["trial"] == 1:
                del evidence["trial"]
    return ordered


def from_json(data: Any) -> ProviderResult:
    """The results in `data`, checked key by key and type by type against `results`' dataclasses.

    A results file is edited by hand, merged, truncated, or written by another version:
    a wrong type (a verdict as a string, a numeric id, `reason: "false"`) is refused
    here with where it is, rather than crashing or misleading whoever renders it.
    Raises ResultsError.
    """
    if not isinstance(data, dict):
        raise ResultsError(f"not an llmprobe results file: the top level is {_kind(data)}, not an object")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsError(f"schema_version: expected a positive integer, got {_shown(version)}")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"written by a newer llmprobe (schema_version {version}, this one reads up to {SCHEMA_VERSION}); upgrade llmprobe"
        )
    for key in ("provider", "generated_at", "llmprobe_version", "models"):
        if key not in data:
            raise ResultsError(f"not an llmprobe results file: missing '{key}'")
    # `incomplete` holds ids and {id, reason} rows, a union the type-driven reader does not model.
    result = _read(ProviderResult, {k: v for k, v in data.items() if k not in ("schema_version", "incomplete")}, "")
    rows = data.get("incomplete", [])
    if not isinstance(rows, list):
        raise ResultsError(f"incomplete: expected a list, got {_kind(rows)}")
    result.incomplete = [_row(row) for row in rows]
    for index, model in enumerate(result.models):
        for name in model.modes:
            if name not in MODES:
                raise ResultsError(f"models[{index}].modes: unknown mode {name!r} for model {model.id!r}")
    return result


#: Keys spelled differently in the file than in the dataclass (`in` is a Python keyword).
_KEYS_IN_FILE = {"in": "in_"}


#: Reads one value of a type: (the value, where it is in the file) → the value, or ResultsError.
_Reader = Callable[[Any, str], Any]


@functools.cache
def _shape(cls: type) -> tuple[dict[str, tuple[str, _Reader]], tuple[str, ...]]:
    """A dataclass's fields by their key in the file, each with its name and reader; and the keys a file
    must hold. Once per class: resolving the hints compiles every annotation, and a file of 500 models
    holds tens of thousands of records."""
    hints = get_type_hints(cls)
    spelled = {name: key for key, name in _KEYS_IN_FILE.items()}
    fields = dataclasses.fields(cls)
    keys = {spelled.get(f.name, f.name): (f.name, _reader(hints[f.name])) for f in fields}
    required = tuple(
        spelled.get(f.name, f.name)
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return keys, required


def _read(cls: type, data: Any, where: str) -> Any:
    """A dataclass instance from a JSON object: every key known, every required one present, every value of its type."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where or 'the file'}: expected an object, got {_kind(data)}")
    keys, required = _shape(cls)
    values = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in keys:
            raise ResultsError(f"{path}: unknown key")
        name, read = keys[key]
        values[name] = read(value, path)
    for key in required:
        if keys[key][0] not in values:
            raise ResultsError(f"{where + '.' if where else ''}{key}: missing")
    return cls(**values)


@functools.cache
def _reader(hint: Any) -> _Reader:
    """The reader of `hint`'s values, made once per type: taking a type apart (`get_origin`,
    `get_args`) costs more than checking a value, and a large file holds tens of thousands."""
    origin, args = get_origin(hint), get_args(hint)
    if dataclasses.is_dataclass(hint):
        return functools.partial(_read, hint)  # type: ignore[arg-type]
    if origin is Union or origin is types.UnionType:
        (kind,) = [a for a in args if a is not type(None)]
        return _optional(_reader(kind)) if type(None) in args else _reader(kind)
    if origin is Literal:
        return functools.partial(_literal, args)
    if origin is list:
        return functools.partial(_list, _reader(args[0]))
    if origin is dict:
        return functools.partial(_dict, _reader(args[1]))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return functools.partial(_enum, hint)
    return functools.partial(_scalar, hint)


def _optional(read: _Reader) -> _Reader:
    return lambda value, where: None if value is None else read(value, where)


def _literal(choices: tuple[str, ...], value: Any, where: str) -> str:
    if isinstance(value, str) and value in choices:
        return value
    raise ResultsError(f"{where}: {_shown(value)} is not one of {', '.join(map(str, choices))}")


def _list(read: _Reader, value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ResultsError(f"{where}: expected a list, got {_kind(value)}")
    return [read(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _dict(read: _Reader, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ResultsError(f"{where}: expected an object, got {_kind(value)}")
    return {key: read(item, f"{where}.{key}") for key, item in value.items()}


def _enum(kind: type[enum.Enum], value: Any, where: str) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        raise ResultsError(f"{where}: {_shown(value)} is not one of {', '.join(str(m.value) for m in kind)}") from None


def _scalar(hint: type, value: Any, where: str) -> Any:
    expected = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[hint]
    if not isinstance(value, expected) or (isinstance(value, bool) and hint is not bool):
        raise ResultsError(f"{where}: expected {_KINDS[hint]}, got {_kind(value)}")
    return value


_KINDS: dict[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _kind(value: Any) -> str:
    return _KINDS.get(float if isinstance(value, float) else type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


#: Results files are larger than replies (one holds every model's evidence), never this large.
MAX_RESULTS_BYTES = 256 * 1024 * 1024


def load(path: Path) -> ProviderResult:
    try:
        data = read_bounded(path, MAX_RESULTS_BYTES)
    except Unreadable as exc:
        raise ResultsError(f"{path}: {exc}") from None
    try:
        decoded = safejson.loads(data, max_bytes=MAX_RESULTS_BYTES)
    except safejson.UnsafeJson as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise ResultsError(f"{path}: not valid JSON ({where}{exc})") from None
    try:
        return from_json(decoded)
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def save(result: ProviderResult, path: Path) -> None:
    """Write `result` to `path` once; a run saving again and again uses a ResultsWriter."""
    ResultsWriter(path).save(result)


class ResultsWriter:
    """Writes one provider's results file, again each time a model finishes, encoding each model once.

    Re-encoding every finished model at every save would make a run's saving quadratic
    in its models, blocking the event loop. Each model is kept as UTF-8 bytes, so a save
    is one join of them rather than building and encoding the whole text of a file that
    grows to megabytes with hundreds of models. A saved ModelResult
    must not be changed afterwards: its bytes are reused for as long as it is the same object.
    """

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None) -> None:
        self.path = path
        #: Applied to every string written (the provider's secrets), whatever a reply held.
        self._redact = redact
        self._encoded: dict[RowKey, tuple[ModelResult, bytes]] = {}

    def save(self, result: ProviderResult) -> None:
        """Write atomically: a temporary file in the same folder renamed into place.

        An interrupted run therefore leaves either the previous file or the new one,
        never half of one. The text is `json.dumps(to_json(result), indent=2)`'s, byte for byte,
        for a result that holds nothing to clean (see `safejson.clean`) or redact.
        """
        models = [self._model_bytes(model) for model in result.models]
        head = safejson.dumps(to_json(replace(result, models=[])), text=self._redact, indent=2, ensure_ascii=False)
        # JSON strings hold no raw line breaks, so this splits at the top-level key and nowhere else.
        before, after = head.encode().split(b'\n  "models": []', 1)
        listed = [b"[\n", b",\n".join(models), b"\n  ]"] if models else [b"[]"]
        write_atomically(self.path, b"".join([before, b'\n  "models": ', *listed, after, b"\n"]))

    def _model_bytes(self, model: ModelResult) -> bytes:
        """The model's JSON, indented to its depth in the file (an item of the top-level list)."""
        cached = self._encoded.get((model.id, model.reason))
        if cached is None or cached[0] is not model:
            text = safejson.dumps(_model_json(model), text=self._redact, indent=2, ensure_ascii=False)
            cached = (model, "\n".join("    " + line for line in text.split("\n")).encode())
            self._encoded[(model.id, model.reason)] = cached
        return cached[1]


