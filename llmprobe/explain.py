"""`llmprobe explain`: the evidence behind every cell of one model, and the requests to reproduce it.

For each cell, the probes that decided it (`render.evidence`, the same map the HTML page opens),
what came of each (outcome, reason or reply excerpt, status, latency, attempts, per trial) and a
`curl` command that sends the probe's request again. The request is rebuilt from the battery and
the provider's dialect, as the run built it, rather than stored with the results: it is the same
every time, and results files stay small. The credentials stay in the environment: the command
names the variable (`$GROQ_API_KEY`), never its value, which is never even read.

Two requests cannot be rebuilt exactly, and say so in their `note`: the tool chain's follow-up
continues a conversation with the model's own first reply, which is rebuilt as the call the force
probe expects (id `call_0`, its expected arguments); and the tool-bias probes are sent with
tool_choice "required", or "auto" when forcing a call had failed, as the run decided from the
same evidence.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from llmprobe.battery import Battery, MediaProbe, Probe, Role, continuation, load_battery
from llmprobe.config import ACCOUNT_ID_PLACEHOLDER, ProviderConfig
from llmprobe.dialects import get_dialect
from llmprobe.errors import LlmprobeError, UnsupportedOption
from llmprobe.neutral import Reply, Request, ToolCall, ToolChoice
from llmprobe.render.evidence import cell_evidence, layout_columns
from llmprobe.render.merge import merge
from llmprobe.render.tables import columns, model_lines
from llmprobe.results import MODES, Evidence, ProviderResult
from llmprobe.verdicts import tool_results

#: Inline image data longer than this is shortened in the text view (`--json` keeps it whole).
_SHOWN_DATA = 80


class ExplainError(LlmprobeError):
    """The model, mode or column asked about is not in the results or the layout."""


@dataclass(frozen=True)
class Reproduction:
    """How to send one probe's request again: a curl command, or why there is none."""

    curl: str | None
    note: str = ""
    #: The request itself, for a program to send or compare (the curl command is for people).
    url: str = ""
    body: Any = None


@dataclass
class ProbeEvidence:
    probe: str
    #: One per trial, in the order they ran.
    trials: list[Evidence]
    reproduction: Reproduction


@dataclass
class CellExplanation:
    column: str
    cell: str
    verdicts: dict[str, str]
    rates: dict[str, str]
    probes: list[ProbeEvidence] = field(default_factory=list)


@dataclass
class ModeExplanation:
    mode: str
    cells: list[CellExplanation] = field(default_factory=list)


@dataclass
class Explanation:
    provider: str
    model: str
    generated_at: str
    source: str
    modes: list[ModeExplanation] = field(default_factory=list)


def explain(
    config: ProviderConfig,
    result: ProviderResult,
    model_id: str,
    *,
    modes: tuple[str, ...] = MODES,
    column: str | None = None,
    layout: str = "detailed",
    base_url: str | None = None,
    reason: bool | None = None,
) -> Explanation:
    """Every cell of `model_id`'s rows (or the one `column`), from the results file and the battery.

    `reason` picks the row of a model listed twice, with and without its reasoning (`reason: true`
    rows send every request with the reasoning switched on, and so does their curl)."""
    merged = merge(config, result)
    model = merged.model(model_id, reason)
    listed = next((m for m in config.models if m.id == model_id and reason in (None, m.reason)), None)
    thinking = listed is not None and listed.reason
    if model is None or not model.probed or not model.modes:
        again = f"llmprobe run -p {config.name} -m {model_id}"
        raise ExplainError(f"{config.name} has no results for model {model_id!r}: run `{again}`")
    layout_cells = dict(columns(layout))
    chosen = [c for c in layout_columns(layout) if column is None or c.title.lower() == column.lower()]
    if not chosen:
        titles = ", ".join(c.title for c in layout_columns(layout))
        raise ExplainError(f"--column {column!r}: the {layout} layout has {titles}")
    battery = load_battery()
    builder = _Builder(config, battery, base_url or config.base_url)
    explanation = Explanation(config.name, model.id, result.generated_at, result.source)
    for line in model_lines(model, rates=True):
        mode = line.modes[0] if line.modes else ""
        if mode not in modes:
            continue
        recorded = model.modes[mode]
        part = ModeExplanation(mode)
        for col in chosen:
            evidence = cell_evidence(recorded, col.probes)
            names = list(dict.fromkeys(e.probe for e in evidence))
            part.cells.append(
                CellExplanation(
                    column=col.title,
                    cell=layout_cells[col.title](line),
                    verdicts={name: str(line.verdict(name)) for name in col.verdicts},
                    rates={name: str(recorded.rates[name]) for name in col.verdicts if name in recorded.rates},
                    probes=[
                        ProbeEvidence(
                            name,
                            [e for e in evidence if e.probe == name],
                            builder.reproduce(model.id, name, mode, recorded.probes, thinking),
                        )
                        for name in names
                    ],
                )
            )
        explanation.modes.append(part)
    if not explanation.modes:
        raise ExplainError(f"{config.name} {model_id}: no results in mode {', '.join(modes)}")
    return explanation


class _Builder:
    """Rebuilds a probe's request the way the run built it, and writes it as curl."""

    def __init__(self, config: ProviderConfig, battery: Battery, base_url: str) -> None:
        self.config = config
        self.battery = battery
        # The account id stays in the environment, like the key.
        url = base_url.replace(ACCOUNT_ID_PLACEHOLDER, f"${{{config.account_id_env}}}" if config.account_id_env else "ACCOUNT_ID")
        self.dialect = get_dialect(config.api, url, config.options)
        self.probes: dict[str, Probe] = {**battery.probes, **{probe.name: probe for probe in battery.media}}

    def reproduce(self, model: str, name: str, mode: str, evidence: list[Evidence], thinking: bool = False) -> Reproduction:
        probe = self.probes.get(name)
        if probe is None:
            return Reproduction(None, f"{name} is not in this version's battery")
        request, note = self._request(probe, mode == "stream", {e.probe for e in evidence})
        if request is None:
            return Reproduction(None, note)
        if thinking:
            request = dataclasses.replace(request, thinking=True)
        declared = next((option for option in self.config.unsupported if request.asks(option)), None)
        if declared is not None:
            return Reproduction(None, f"not sent: providers.yaml declares {declared} unsupported for {self.config.name}")
        try:
            call = self.dialect.build(model, request)
        except UnsupportedOption as exc:
            return Reproduction(None, f"not sent: {exc.detail or exc}")
        body = {**self.config.extra_body, **call.json} if self.config.extra_body and isinstance(call.json, dict) else call.json
        headers = {**call.headers}
        if self.config.api_key_env:
            headers.update(self.dialect.auth_headers(f"${self.config.api_key_env}"))
        return Reproduction(_curl(call.method, call.url, headers, body, request.stream), note, call.url, body)

    def _request(self, probe: Probe, stream: bool, sent: set[str]) -> tuple[Request | None, str]:
        b = self.battery
        if isinstance(probe, MediaProbe):
            request = probe.media_request(stream=stream, base_url=self.config.image_base_url)
            return request, "" if request is not None else "needs image_base_url in providers.yaml"
        if probe.role in (Role.FOLLOW_UP, Role.FOLLOW_UP_FALLBACK):
            fallback = b.one(Role.FORCE_FALLBACK)
            caller = fallback if fallback.name in sent else b.one(Role.FORCE)
            expected = ToolCall("call_0", caller.expect["call"], json.dumps(caller.expect.get("arguments", {})))
            history = continuation([expected], list(tool_results(caller, Reply(tool_calls=[expected]))))
            note = (
                f"continues {caller.name}: its reply is shown as the call that probe expects (id call_0); "
                "the run sent the model's own call back"
            )
            return probe.request(stream=stream, history=history), note
        if probe.role is Role.BIAS:
            choice: ToolChoice = "auto" if b.one(Role.FORCE_FALLBACK).name in sent else "required"
            request = dataclasses.replace(probe.request(stream=stream), tool_choice=choice)
            return request, f"tool_choice {choice}, as the run chose it from the force probe's outcome"
        return probe.request(stream=stream), ""


_VARIABLE = re.compile(r"\$\{?[A-Z_][A-Z0-9_]*\}?")


def _shell_with_variables(text: str) -> str:
    """`text` in double quotes, every character literal except the `$VAR`s we put there."""
    parts, at = [], 0
    for match in _VARIABLE.finditer(text):
        parts.append(re.sub(r'([\\"`$])', r"\\\1", text[at : match.start()]) + match.group(0))
        at = match.end()
    parts.append(re.sub(r'([\\"`$])', r"\\\1", text[at:]))
    return '"' + "".join(parts) + '"'


def _curl(method: str, url: str, headers: dict[str, str], body: Any, stream: bool) -> str:
    """One line for a shell: `-N` for a stream (no buffering), the body as compact JSON."""
    words = ["curl", "-sS"] + (["-N"] if stream else []) + ["-X", method, _shell_with_variables(url)]
    if not any(name.lower() == "content-type" for name in headers):
        words += ["-H", shlex.quote("Content-Type: application/json")]
    for name, value in headers.items():
        words += ["-H", _shell_with_variables(f"{name}: {value}")]
    if body is not None:
        words += ["-d", shlex.quote(json.dumps(body, ensure_ascii=False, separators=(",", ":")))]
    return " ".join(words)


def _shortened(curl: str) -> str:
    """Inline image data cut to its start: the text view is for reading (`--json` has it whole)."""
    return re.sub(
        rf"(data:[\w/+.-]+;base64,)([A-Za-z0-9+/=]{{{_SHOWN_DATA},}})",
        lambda m: f"{m.group(1)}{m.group(2)[:40]}…({len(m.group(2))} base64 characters; --json has them)",
        curl,
    )


def render_text(explanation: Explanation) -> str:
    head = f"{explanation.provider} {explanation.model}: results of {explanation.generated_at}"
    lines = [head + (f" ({explanation.source})" if explanation.source else "")]
    for mode in explanation.modes:
        shown: dict[str, str] = {}
        for cell in mode.cells:
            lines += ["", f"{mode.mode} · {cell.column}: {cell.cell}"]
            if cell.verdicts:
                rated = [f"{name} {value} {cell.rates.get(name, '')}".rstrip() for name, value in cell.verdicts.items()]
                lines.append("  verdicts: " + ", ".join(rated))
            if not cell.probes:
                lines.append("  no probe decides it" if not cell.verdicts else "  none of its probes was sent in this mode")
            for probe in cell.probes:
                for e in probe.trials:
                    trial = f" (trial {e.trial})" if len(probe.trials) > 1 else ""
                    facts = [f"HTTP {e.status}" if e.status is not None else "not answered"]
                    facts += [f"{e.latency_ms:.0f} ms"] if e.latency_ms is not None else []
                    facts += [f"first token {e.ttft_ms:.0f} ms"] if e.ttft_ms is not None else []
                    facts += [f"{e.attempts} attempt{'s' if e.attempts != 1 else ''}"]
                    lines.append(f"  {probe.probe}{trial}: {e.outcome}: {e.reason} · {' · '.join(facts)}")
                if probe.probe in shown:
                    lines.append(f"    curl: as under {shown[probe.probe]} above")
                    continue
                shown[probe.probe] = f"{mode.mode} · {cell.column}"
                if probe.reproduction.note:
                    lines.append(f"    note: {probe.reproduction.note}")
                if probe.reproduction.curl is not None:
                    lines.append(f"    {_shortened(probe.reproduction.curl)}")
    return "\n".join(lines) + "\n"


def render_json(explanation: Explanation) -> str:
    data = asdict(explanation)
    for mode in data["modes"]:
        for cell in mode["cells"]:
            for probe in cell["probes"]:
                probe["trials"] = [{k: v for k, v in t.items() if k != "cassette"} for t in probe["trials"]]
                # The curl command already says it all; url and body are for programs in-process.
                probe["reproduction"] = {k: probe["reproduction"][k] for k in ("curl", "note")}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
