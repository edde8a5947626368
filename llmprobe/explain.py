"""`llmprobe explain`: the evidence behind every cell of one model, and the requests to reproduce it.

For each cell, the probes that decided it (`render.evidence`, the same map the HTML page opens),
what came of each (outcome, reason or reply excerpt, status, latency, attempts, per trial) and a
`curl` command that sends the probe's request again. The request is rebuilt through the run's
own request path (`asking`), rather than stored with the results: it is the same every time,
and results files stay small. The credentials stay in the environment: the command
names the variable (`$GROQ_API_KEY`), never its value, which is never even read.

Two requests cannot be rebuilt exactly, and say so in their `note`: the tool chain's follow-up
continues a conversation with the model's own first reply, which is rebuilt as the call the force
probe expects (id `call_0`, its expected arguments); and the tool-bias probes are sent with
tool_choice "required", or "auto" when forcing a call had failed, as the run decided from the
same evidence.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field
from functools import cache, partial
from typing import Any

from llmprobe.asking import ChainState, Wire, request_for
from llmprobe.battery import Battery, Probe, Role, load_battery
from llmprobe.claims import Claims, contradictions
from llmprobe.config import ACCOUNT_ID_PLACEHOLDER, ProviderConfig
from llmprobe.dialects import get_dialect
from llmprobe.errors import DeclaredUnsupported, LlmprobeError, UnsupportedOption
from llmprobe.neutral import Reply, ToolCall
from llmprobe.render.evidence import cell_evidence, layout_columns
from llmprobe.render.merge import merge
from llmprobe.render.tables import columns, model_lines
from llmprobe.results import MODES, Evidence, ProviderResult

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
    method: str = ""
    #: Every header sent, the credentials as the variables that hold them (`$GROQ_API_KEY`).
    headers: dict[str, str] = field(default_factory=dict)


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
    #: The claims of the provider's own listing that this model's verdicts contradict.
    contradicted: tuple[str, ...] = ()


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
    claims: Claims | None = None,
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
    explanation = Explanation(
        config.name, model.id, result.generated_at, result.source, contradicted=contradictions(claims, result, model.id)
    )
    for line in model_lines(model, rates=True):
        mode = line.modes[0] if line.modes else ""
        if mode not in modes:
            continue
        recorded = model.modes[mode]
        part = ModeExplanation(mode)
        # A probe that decides several cells (the tool chain's) is rebuilt once and shown in each.
        rebuilt = cache(partial(builder.reproduce, model.id, mode=mode, evidence=recorded.probes, thinking=thinking))
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
                            rebuilt(name),
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
    """Rebuilds a probe's request through the run's own path (`asking`), and writes it as curl."""

    def __init__(self, config: ProviderConfig, battery: Battery, base_url: str) -> None:
        self.config = config
        self.battery = battery
        # The account id stays in the environment, like the key.
        url = base_url.replace(ACCOUNT_ID_PLACEHOLDER, f"${{{config.account_id_env}}}" if config.account_id_env else "ACCOUNT_ID")
        dialect = get_dialect(config.api, url, config.options)
        auth_headers = dialect.auth_headers(f"${config.api_key_env}") if config.api_key_env else {}
        self.wire = Wire(dialect, config.unsupported, config.extra_body, auth_headers)
        self.probes: dict[str, Probe] = {**battery.probes, **{probe.name: probe for probe in battery.media}}

    def reproduce(self, model: str, name: str, mode: str, evidence: list[Evidence], thinking: bool = False) -> Reproduction:
        probe = self.probes.get(name)
        if probe is None:
            return Reproduction(None, f"{name} is not in this version's battery")
        chain, note = self._chain(probe, {e.probe for e in evidence})
        config = self.config
        request = request_for(
            probe, stream=mode == "stream", thinking=thinking, image_base_url=config.image_base_url, chain=chain
        )
        if request is None:
            return Reproduction(None, "needs image_base_url in providers.yaml")
        try:
            sent = self.wire.outgoing(model, request)
        except DeclaredUnsupported as exc:
            return Reproduction(None, f"not sent: providers.yaml declares {exc.option} unsupported for {config.name}")
        except UnsupportedOption as exc:
            return Reproduction(None, f"not sent: {exc.detail or exc}")
        curl = _curl(sent.method, sent.url, sent.headers, sent.body, request.stream)
        return Reproduction(curl, note, sent.url, sent.body, sent.method, sent.headers)

    def _chain(self, probe: Probe, sent: set[str]) -> tuple[ChainState | None, str]:
        """The chain's state as the run had it: the force probe that answered is the fallback when
        the fallback was sent, and its reply is taken to be the call that probe expects."""
        if probe.role not in (Role.FOLLOW_UP, Role.FOLLOW_UP_FALLBACK, Role.BIAS):
            return None, ""
        fallback = self.battery.one(Role.FORCE_FALLBACK)
        caller = fallback if fallback.name in sent else self.battery.one(Role.FORCE)
        expected = ToolCall("call_0", caller.expect["call"], json.dumps(caller.expect.get("arguments", {})))
        chain = ChainState(caller, Reply(tool_calls=[expected]))
        if probe.role is Role.BIAS:
            return chain, f"tool_choice {chain.tool_choice}, as the run chose it from the force probe's outcome"
        note = (
            f"continues {caller.name}: its reply is shown as the call that probe expects (id call_0); "
            "the run sent the model's own call back"
        )
        return chain, note


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
    """One line for a shell: `-N` for a stream (no buffering), the body as compact JSON, and
    `--compressed` to read a compressed answer, since the headers ask for one as the run did."""
    words = ["curl", "-sS"] + (["-N"] if stream else []) + ["-X", method, _shell_with_variables(url)]
    if not any(name.lower() == "content-type" for name in headers):
        words += ["-H", shlex.quote("Content-Type: application/json")]
    for name, value in headers.items():
        words += ["-H", _shell_with_variables(f"{name}: {value}")]
    if any(name.lower() == "accept-encoding" for name in headers):
        words.append("--compressed")
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
    lines += [f"contradicts its listing: {line}" for line in explanation.contradicted]
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
