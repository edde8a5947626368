"""Declared versus measured: what a provider's own model listing claims, held against the verdicts.

`llmprobe models --claims` fetches the claims (`dialects.declared`), keeps them beside the
results as `DIR/claims/NAME.json`, and lists each claim as contradicted, confirmed or not
measured; the HTML page reads the same file to mark the cells a claim contradicts.

Why a file of its own rather than a key of the results file: a catalog changes on its own
schedule, not the run's (a listing takes one request, a run hours), so the claims are refreshed
without rewriting the evidence, a run never drops them, and the results file's schema stays as
it is. Rendering reads the file from disk and never the network.

How a claim is judged, over every row (a model probed with and without its reasoning) and mode:
- a capability declared supported is contradicted where its verdict is false, and confirmed when
  every measured verdict works (true or flaky: the parameter is honoured, if not always);
  declared unsupported (left out of a complete list), it is contradicted where it works;
- an input medium ("in:image") is measured per row: accepted when an attachment of it was
  answered right, refused when one was answered (an HTTP status) and none right;
- a token limit is contradicted when a reply reported more tokens than it, confirmed otherwise;
- unknown and inexpressible verdicts, and media never answered, measure nothing: "not measured".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from llmprobe import safejson
from llmprobe.battery import Role, load_battery
from llmprobe.dialects.declared import INPUT, LIMITS, Claim, measures
from llmprobe.files import Unreadable, read_bounded, write_atomically
from llmprobe.results import ModelResult, ProviderResult, Verdict
from llmprobe.results_file import ResultsError

#: The layout of a claims file; a reader refuses a later one.
SCHEMA_VERSION = 1
#: A claims file holds a few claims per configured model: far smaller than this.
MAX_CLAIMS_BYTES = 16 * 1024 * 1024

Judgement = Literal["contradicted", "confirmed", "not measured"]
#: The judgements, worst first (the order findings are listed in).
JUDGEMENTS: tuple[Judgement, ...] = ("contradicted", "confirmed", "not measured")

#: Per model id, what the listing declares about it.
Declared = Mapping[str, Sequence[Claim]]


@dataclass(frozen=True)
class Claims:
    """A provider's claims as fetched, with when and by which llmprobe."""

    provider: str
    fetched_at: str
    llmprobe_version: str
    models: Declared


@dataclass(frozen=True)
class Finding:
    """One claim about one model, judged."""

    model: str
    claim: str
    measured_by: str
    declared: str
    measured: str
    verdict: Judgement
    #: The rows and modes whose measurement contradicts it: (reasoning row?, mode).
    contradicting: tuple[tuple[bool, str], ...] = ()


def path_for(out: Path, provider: str) -> Path:
    """`DIR/claims/NAME.json`: in a folder of its own, so nothing that reads `DIR/*.json` as
    results files ever takes it for one."""
    return out / "claims" / f"{provider}.json"


def judge(declared: Declared, result: ProviderResult | None) -> list[Finding]:
    """Every claim of every model, judged against `result` (None: nothing measured yet);
    models in `declared`'s order, contradicted claims first within each."""
    findings: list[Finding] = []
    for model_id, claims in declared.items():
        rows = [m for m in (result.models if result else []) if m.id == model_id and m.modes]
        judged = [_judge(model_id, claim, rows) for claim in claims]
        findings += sorted(judged, key=lambda f: JUDGEMENTS.index(f.verdict))
    return findings


def contradictions(claims: Claims | None, result: ProviderResult, model: str | None = None) -> tuple[str, ...]:
    """One line per claim of the listing that a measured verdict contradicts (of `model` alone when
    given): what the scoreboards' notes and `explain` say, beside the HTML page's marked cells."""
    if claims is None:
        return ()
    declared = {m: c for m, c in claims.models.items() if model in (None, m)}
    return tuple(
        f"{f.model}: the provider's listing declares {f.claim} ({f.declared}), measured {f.measured} "
        f"(llmprobe models --claims, fetched {claims.fetched_at})"
        for f in judge(declared, result)
        if f.verdict == "contradicted"
    )


def _judge(model_id: str, claim: Claim, rows: Sequence[ModelResult]) -> Finding:
    if claim.measured_by in LIMITS:
        return _judge_limit(model_id, claim, rows)
    declared = "yes" if claim.supported else "no"
    if claim.measured_by.startswith(INPUT):
        medium = claim.measured_by.removeprefix(INPUT)
        seen = [
            ((row.reason, mode), accepted)
            for row in rows
            if (accepted := _accepts(row, medium)) is not None
            for mode in row.modes
        ]
    else:
        seen = [
            ((row.reason, mode), found.works)
            for row in rows
            for mode, result in row.modes.items()
            if (found := result.verdicts.get(claim.measured_by)) in (Verdict.TRUE, Verdict.FLAKY, Verdict.FALSE)
        ]
    against = tuple(cell for cell, works in seen if works != claim.supported)
    verdict: Judgement = "not measured" if not seen else "contradicted" if against else "confirmed"
    measured = ", ".join(f"{_row_name(cell)}: {'works' if works else 'no'}" for cell, works in seen)
    return Finding(model_id, claim.name, claim.measured_by, declared, measured, verdict, against)


def _judge_limit(model_id: str, claim: Claim, rows: Sequence[ModelResult]) -> Finding:
    """The largest count any reply reported, against the declared limit."""
    counts = [
        ((row.reason, mode), count)
        for row in rows
        for mode, result in row.modes.items()
        for e in result.probes
        if (count := e.tokens_in if claim.measured_by == "tokens_in" else e.tokens_out) is not None
    ]
    limit = claim.limit or 0
    declared = f"at most {limit}"
    if not counts:
        return Finding(model_id, claim.name, claim.measured_by, declared, "", "not measured")
    largest = max(count for _, count in counts)
    against = tuple(dict.fromkeys(cell for cell, count in counts if count > limit))
    verdict: Judgement = "contradicted" if against else "confirmed"
    return Finding(model_id, claim.name, claim.measured_by, declared, f"largest reported: {largest}", verdict, against)


def _accepts(row: ModelResult, medium: str) -> bool | None:
    """True when an attachment of `medium` was answered right, False when one was answered and
    none right, None when none was answered (refused before sending, or no answer at all)."""
    if medium in row.in_:
        return True
    probes = _probes_of(medium)
    answered = any(e.status is not None for mode in row.modes.values() for e in mode.probes if e.probe in probes)
    return False if answered else None


@functools.cache
def _probes_of(medium: str) -> frozenset[str]:
    """The probes whose answers show `medium` is taken: the media probes of it; for text, the gate."""
    battery = load_battery()
    if medium == "text":
        return frozenset({battery.one(Role.GATE).name})
    return frozenset(p.name for p in battery.media if p.attachment.modality == medium)


def _row_name(cell: tuple[bool, str]) -> str:
    reason, mode = cell
    return f"{mode} (thinking)" if reason else mode


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    listed = list(findings)
    return {judgement: sum(1 for f in listed if f.verdict == judgement) for judgement in JUDGEMENTS}


def render_rows(findings: Sequence[Finding]) -> list[tuple[str, str, str, str, str]]:
    """The table's rows: model, claim, declared, measured, verdict."""
    return [(f.model, f.claim, f.declared, f.measured or "-", f.verdict) for f in findings]


def summary_line(
    provider: str, findings: Sequence[Finding], measured: bool, not_listed: Sequence[str], out: Path, kept: Path
) -> str:
    """What `models --claims` says last: the count of each judgement, and what it could not judge."""
    summary = ", ".join(f"{n} {judgement}" for judgement, n in counts(findings).items())
    if not findings:
        summary = "its listing declares nothing llmprobe measures about the configured models"
    unlisted = f"; not listed: {', '.join(not_listed)}" if not_listed else ""
    measured_from = "" if measured else f" (no results in {out}/{provider}.json yet)"
    return f"{provider}: {summary}{measured_from}{unlisted}; kept in {kept}"


def render_json(provider: str, findings: Sequence[Finding], not_listed: Sequence[str]) -> str:
    document = {
        "provider": provider,
        "counts": counts(findings),
        "findings": [{k: v for k, v in asdict(f).items() if k != "contradicting"} for f in findings],
        "not_listed": list(not_listed),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_json(claims: Claims) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "provider": claims.provider,
        "fetched_at": claims.fetched_at,
        "llmprobe_version": claims.llmprobe_version,
        "models": {model: [asdict(c) for c in listed] for model, listed in claims.models.items()},
    }


def save(claims: Claims, out: Path) -> Path:
    path = path_for(out, claims.provider)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, (json.dumps(to_json(claims), indent=2, ensure_ascii=False) + "\n").encode())
    return path


def load(path: Path) -> Claims:
    """The claims file at `path`, checked key by key; ResultsError (one line, with the path) otherwise."""
    try:
        data = safejson.loads(read_bounded(path, MAX_CLAIMS_BYTES), max_bytes=MAX_CLAIMS_BYTES)
    except Unreadable as exc:
        raise ResultsError(f"{path}: {exc}") from None
    except safejson.UnsafeJson as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    try:
        return from_json(data)
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def load_beside(out: Path, provider: str) -> Claims | None:
    """The claims kept beside `provider`'s results, or None when `models --claims` never fetched them."""
    path = path_for(out, provider)
    if not path.exists():
        return None
    kept = load(path)
    if kept.provider != provider:
        raise ResultsError(f"{path}: holds the claims of {kept.provider!r}, not of {provider!r}")
    return kept


_TOP: dict[str, type] = {"schema_version": int, "provider": str, "fetched_at": str, "llmprobe_version": str, "models": dict}
_CLAIM: dict[str, type | tuple[type, ...]] = {"name": str, "measured_by": str, "supported": bool, "limit": (int, type(None))}


def from_json(data: Any) -> Claims:
    if not isinstance(data, dict) or set(data) != set(_TOP):
        raise ResultsError(f"not an llmprobe claims file: expected an object with {', '.join(_TOP)}")
    for key, kind in _TOP.items():
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise ResultsError(f"{key}: expected {kind.__name__}")
    if data["schema_version"] < 1:
        raise ResultsError("schema_version: expected a positive integer")
    if data["schema_version"] > SCHEMA_VERSION:
        raise ResultsError(f"written by a newer llmprobe (schema_version {data['schema_version']}); upgrade llmprobe")
    models: dict[str, list[Claim]] = {}
    for model, listed in data["models"].items():
        if not isinstance(listed, list):
            raise ResultsError(f"models.{model}: expected a list")
        models[model] = [_claim(item, f"models.{model}[{i}]") for i, item in enumerate(listed)]
    return Claims(data["provider"], data["fetched_at"], data["llmprobe_version"], models)


def _claim(item: Any, where: str) -> Claim:
    if not isinstance(item, dict) or set(item) != set(_CLAIM):
        raise ResultsError(f"{where}: expected an object with {', '.join(_CLAIM)}")
    for key, kind in _CLAIM.items():
        value = item[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ResultsError(f"{where}.{key}: wrong type")
    if not measures(item["measured_by"]):
        raise ResultsError(f"{where}.measured_by: {item['measured_by']!r} is nothing llmprobe measures")
    if (item["measured_by"] in LIMITS) != (item["limit"] is not None) or (item["limit"] or 0) < 0:
        raise ResultsError(f"{where}.limit: a token count for a limit claim, null for any other")
    return Claim(item["name"], item["measured_by"], item["supported"], item["limit"])
