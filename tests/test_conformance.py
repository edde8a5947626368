"""Tool-call accuracy (`toolAccuracy`, 🛠️) and JSON schema strictness (`jsonSchemaStrict`, 🔒): every
call and every structured reply checked on its own (llmprobe/conformance.py), the verdicts and rates
they make, and how every output shows them.

The unit tests script replies one by one; the end-to-end tests run the CLI against a fake
OpenAI-compatible provider serving a good model (every call valid, the schema enforced) and a bad one
(invalid JSON arguments, a tool not offered, arguments the schema refuses, the wrong tool, a call where
none is wanted; the schema broken in sync and refused in stream). No recording asks these probes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmprobe import shares
from llmprobe import verdicts as v
from llmprobe.battery import load_battery
from llmprobe.cli import app
from llmprobe.conformance import call_checks
from llmprobe.errors import ErrorKind
from llmprobe.neutral import Exchange, Reply, ToolCall
from llmprobe.render import cells, legend
from llmprobe.render.cells import Line
from llmprobe.results import Rate, Verdict
from llmprobe.results_file import ResultsError, from_json, load, save
from llmprobe.runner import mode_plan
from llmprobe.trials import over_trials, rate
from support.configs import write_providers
from support.fake_openai import FakeOpenAI, RecordedRequest, Scripted, chunk, json_response, sse_response
from support.passing_provider import ACCURATE_CALLS, USAGE, wire_answer
from test_verdicts import call, calls, declared, failed, good_mode, reply, unsupported

BATTERY = load_battery()
ORDER, CHOICE, NO_CALL = (BATTERY[name] for name in ("Tools-Accuracy-Order", "Tools-Accuracy-Choice", "Tools-Accuracy-NoCall"))
STRICT = BATTERY["JSONSchema-Strict"]
WEATHER = {"city": "Lyon", "unit": "celsius"}


def failures(probe_name: str, *tool_calls: ToolCall) -> list[str]:
    return [check.failed for check in call_checks(BATTERY[probe_name], Reply(tool_calls=list(tool_calls)))]


# --- each call, checked on its own ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_call", "failed_check"),
    [
        (call("get_weather", **WEATHER), ""),
        # Checked in order: JSON first, then a tool offered, then its schema, then the right tool.
        (ToolCall("c", "get_weather", '{"city": "Lyon", "unit": '), "arguments are not valid JSON"),
        (ToolCall("c", "get_weather", "[" * 5000 + "]" * 5000), "arguments are not valid JSON"),
        (ToolCall("c", "get_forecast", "not json"), "arguments are not valid JSON"),
        (call("get_forecast", **WEATHER), "not a tool offered"),
        (ToolCall("c", "", json.dumps(WEATHER)), "not a tool offered"),
        (call("get_weather", city="Lyon", unit="kelvin"), "arguments invalid against its schema: 'kelvin' is not one of"),
        (call("get_weather", city="Lyon"), "arguments invalid against its schema: 'unit' is a required property"),
        (call("get_weather", city="Lyon", unit="celsius", when="now"), "arguments invalid against its schema: Additional"),
        (ToolCall("c", "get_weather", "[1]"), "arguments invalid against its schema: [1] is not of type 'object'"),
        (call("get_time", city="Lyon"), "wrong tool, get_weather wanted"),
    ],
)
def test_each_call_fails_the_first_check_it_breaks(tool_call: ToolCall, failed_check: str) -> None:
    (found,) = failures("Tools-Accuracy-Choice", tool_call)
    assert found.startswith(failed_check) and bool(found) == bool(failed_check)


def test_nested_objects_arrays_and_an_optional_field_are_checked_against_the_schema() -> None:
    good = ACCURATE_CALLS["place_order"]
    assert failures("Tools-Accuracy-Order", call("place_order", **good)) == [""]
    assert failures("Tools-Accuracy-Order", call("place_order", **good, gift_note="Enjoy")) == [""]
    # An optional field sent as null, a count as a word, an empty list, a nested key missing.
    bad_note = {**good, "gift_note": None}
    bad_count = {**good, "items": [{"sku": "BK-1042", "quantity": "two"}]}
    no_items = {**good, "items": []}
    no_city = {**good, "shipping": {"speed": "express", "address": {"street": "12 Rue Cler", "postcode": "75007", "country": "France"}}}
    for arguments, said in ((bad_note, "None is not of type 'string'"), (bad_count, "'two' is not of type 'integer'"),
                            (no_items, "[] should be non-empty"), (no_city, "'city' is a required property")):  # fmt: skip
        (found,) = failures("Tools-Accuracy-Order", call("place_order", **arguments))
        assert found == f"arguments invalid against its schema: {said}"


def test_no_call_is_one_check_passed_where_none_is_wanted_and_failed_where_one_is() -> None:
    assert failures("Tools-Accuracy-NoCall") == [""]
    assert failures("Tools-Accuracy-NoCall", call("delete_account", confirm=False)) == ["a call where none is wanted"]
    assert failures("Tools-Accuracy-Choice") == ["get_weather wanted"]
    assert shares.problems(CHOICE, reply("Sunny.")) == "no call: get_weather wanted"
    # A probe that checks no call on its own has no checks.
    assert call_checks(BATTERY["Tools-SquareRoot-1"], Reply(tool_calls=[call("square_root", number=1)])) == []


# --- the verdicts --------------------------------------------------------------------------------


def accuracy(**overrides: Exchange) -> tuple[Verdict, Rate | None]:
    obs = good_mode(**overrides)
    for name, exchange in overrides.items():
        if exchange is None:
            del obs[name]
    return v.mode_verdicts(obs, BATTERY)["toolAccuracy"], shares.sampled_rates([obs], BATTERY).get("toolAccuracy")


def test_every_call_valid_is_true_with_its_rate() -> None:
    assert accuracy() == (Verdict.TRUE, rate(3, 3))


def test_some_calls_wrong_is_flaky_none_valid_is_false() -> None:
    two = calls(call("get_weather", **WEATHER), call("get_forecast", **WEATHER))
    assert accuracy(**{CHOICE.name: two}) == (Verdict.FLAKY, rate(3, 4))
    everything_wrong = {
        ORDER.name: calls(ToolCall("c", "place_order", "{")),
        CHOICE.name: calls(call("get_time", city="Lyon")),
        NO_CALL.name: calls(call("delete_account", confirm=True)),
    }
    assert accuracy(**everything_wrong) == (Verdict.FALSE, rate(0, 3))


def test_a_refused_definition_or_the_providers_own_failed_call_is_one_wrong_call() -> None:
    assert accuracy(**{ORDER.name: failed(ErrorKind.REJECTED, "invalid schema")}) == (Verdict.FLAKY, rate(2, 3))
    groq = failed(ErrorKind.MODEL_FAILED, "tool_use_failed")
    assert accuracy(**{ORDER.name: groq}) == (Verdict.FLAKY, rate(2, 3))
    # Every request refused (providers.yaml declares tools unsupported, or the provider says so):
    # false, and no share, since no call was made.
    refused = {name: declared("tools") for name in (ORDER.name, CHOICE.name, NO_CALL.name)}
    assert accuracy(**refused) == (Verdict.FALSE, None)


def test_a_probe_not_measured_counts_no_call_and_none_measured_is_unknown() -> None:
    down = failed(ErrorKind.TRANSPORT, "connection reset", status=0)
    assert accuracy(**{ORDER.name: down}) == (Verdict.TRUE, rate(2, 2))
    assert accuracy(**{ORDER.name: down, CHOICE.name: down, NO_CALL.name: down}) == (Verdict.UNKNOWN, None)
    assert accuracy(**{ORDER.name: None, CHOICE.name: None, NO_CALL.name: None}) == (Verdict.UNKNOWN, None)
    no_tools = unsupported("tools")
    assert accuracy(**{ORDER.name: no_tools, CHOICE.name: no_tools, NO_CALL.name: no_tools}) == (Verdict.INEXPRESSIBLE, None)


def test_the_rate_pools_every_call_of_every_trial() -> None:
    wrong = good_mode(**{CHOICE.name: calls(call("get_time", city="Lyon"))})
    assert shares.sampled_rates([good_mode(), wrong], BATTERY) == {"toolAccuracy": rate(5, 6)}
    verdicts, rates = over_trials([v.mode_verdicts(obs, BATTERY) for obs in (good_mode(), wrong)])
    assert verdicts["toolAccuracy"] is Verdict.FLAKY


def strictness(exchange: Exchange | None) -> Verdict:
    obs = good_mode(**({} if exchange is None else {STRICT.name: exchange}))
    if exchange is None:
        del obs[STRICT.name]
    return v.mode_verdicts(obs, BATTERY)["jsonSchemaStrict"]


@pytest.mark.parametrize(
    ("exchange", "expected"),
    [
        (reply('{"fruit": "banana", "colour": "yellow", "ripe": true}'), Verdict.TRUE),
        # Tempted and followed: a colour outside the enum, a key not declared, a required one left out.
        (reply('{"fruit": "banana", "colour": "purple", "ripe": true}'), Verdict.FLAKY),
        (reply('{"fruit": "banana", "colour": "yellow", "ripe": true, "origin": "Ecuador"}'), Verdict.FLAKY),
        (reply('{"fruit": "banana", "colour": "yellow"}'), Verdict.FLAKY),
        (reply("Sure! Here is a purple banana."), Verdict.FLAKY),
        (reply("[" * 5000), Verdict.FLAKY),
        (failed(ErrorKind.REJECTED, "response_format json_schema is not supported"), Verdict.FALSE),
        (failed(ErrorKind.TRANSPORT, "connection reset", status=0), Verdict.UNKNOWN),
        (None, Verdict.UNKNOWN),
        (unsupported("json_schema"), Verdict.INEXPRESSIBLE),
    ],
)
def test_strictness_enforced_prompted_refused(exchange: Exchange | None, expected: Verdict) -> None:
    assert strictness(exchange) is expected


def test_strictness_over_trials_is_prompted_as_soon_as_one_reply_broke_the_schema() -> None:
    valid = v.mode_verdicts(good_mode(), BATTERY)
    broken = v.mode_verdicts(good_mode(**{STRICT.name: reply('{"colour": "purple"}')}), BATTERY)
    assert over_trials([valid, broken])[0]["jsonSchemaStrict"] is Verdict.FLAKY
    assert over_trials([broken, broken])[0]["jsonSchemaStrict"] is Verdict.FLAKY


def test_the_evidence_names_each_failed_check() -> None:
    two = calls(call("get_time", city="Lyon"), ToolCall("c", "get_forecast", "{}"))
    assert shares.problems(CHOICE, two) == "get_time: wrong tool, get_weather wanted; get_forecast: not a tool offered"
    assert shares.problems(CHOICE, calls(call("get_weather", **WEATHER))) == ""
    assert shares.problems(STRICT, reply('{"fruit": "banana", "colour": "purple", "ripe": true}')).startswith("'purple' is not one of")
    assert shares.problems(BATTERY["JSONSchema"], reply("no")) == ""


def test_the_battery_refuses_a_valid_call_to_a_tool_it_does_not_offer() -> None:
    from llmprobe.battery import BatteryError, parse_battery

    data: dict[str, Any] = {
        "tools": {"t": {"description": "d", "parameters": {"type": "object", "properties": {}}}},
        "probes": {
            name: {"prompt": "p", "role": role} for name, role in
            (("G", "gate"), ("F", "force"), ("FF", "force_fallback"), ("U", "follow_up"), ("UF", "follow_up_fallback"))
        },
    }  # fmt: skip
    data["probes"]["A"] = {"prompt": "p", "tools": ["t"], "verdict": "toolAccuracy", "expect": {"valid_call": "u"}}
    with pytest.raises(BatteryError, match="valid_call 'u' is not one of its tools"):
        parse_battery(data)
    data["probes"]["A"]["expect"]["valid_call"] = "t"
    data["probes"]["B"] = {"prompt": "p", "tools": ["t"], "verdict": "toolAccuracy", "expect": {"no_call": True}}
    # Several probes decide it, none says verdict_from: each call is checked on its own.
    assert [p.name for p in parse_battery(data).deciding()["toolAccuracy"]] == ["A", "B"]


# --- the cells -----------------------------------------------------------------------------------


def line(**verdicts: Verdict) -> Line:
    return Line(modes=("sync",), verdicts={"tools": Verdict.TRUE, "toolsBiased": Verdict.TRUE, **verdicts}, rates={"toolAccuracy": rate(47, 50)})


def test_the_tool_cell_shows_the_share_of_valid_calls() -> None:
    assert cells.tool_detailed(line(toolAccuracy=Verdict.FLAKY)) == "✅ 🛠️ 47/50"
    assert cells.tool_compact(line(toolAccuracy=Verdict.FLAKY)) == "✅ 🛠️ 47/50"
    # Not measured (a recording that never asked) is ❔, never ❌; unaskable ➖; without rate, the verdict.
    unknown = Line(modes=("sync",), verdicts={"tools": Verdict.TRUE, "toolAccuracy": Verdict.UNKNOWN})
    assert cells.tool_compact(unknown) == "✅ 🛠️❔"
    summary = Line(modes=("sync",), verdicts={"tools": Verdict.TRUE, "toolAccuracy": Verdict.TRUE})
    assert cells.tool_compact(summary) == "✅ 🛠️✅"


def test_the_schema_cells_say_the_strictness_in_its_words() -> None:
    for found, word in ((Verdict.TRUE, "enforced"), (Verdict.FLAKY, "prompted"), (Verdict.FALSE, "refused")):
        shown = Line(modes=("sync",), verdicts={"jsonSchema": Verdict.TRUE, "jsonSchemaStrict": found})
        assert cells.schema(shown) == f"✅ 🔒 {word}"
        assert cells.json_merged(shown) == f"📐 🔒 {word}"
    unknown = Line(modes=("sync",), verdicts={"jsonSchema": Verdict.TRUE, "jsonSchemaStrict": Verdict.UNKNOWN})
    assert cells.schema(unknown) == "✅ 🔒❔"


def test_results_without_the_new_capabilities_read_as_not_measured_and_cells_as_before() -> None:
    old = Line(modes=("sync",), verdicts={"tools": Verdict.TRUE, "jsonSchema": Verdict.TRUE})
    assert old.verdict("toolAccuracy") is Verdict.UNKNOWN and old.verdict("jsonSchemaStrict") is Verdict.UNKNOWN
    assert old.verdict("seed") is Verdict.FALSE  # the reference's rule for its own capabilities
    assert cells.tool_compact(old) == "✅" and cells.schema(old) == "✅"


@pytest.mark.parametrize("layout", ["detailed", "compact"])
def test_the_legend_explains_both(layout: str) -> None:
    texts = [text for entry in legend.entries(layout) for text in (entry.text, *entry.children)]
    assert any(text.startswith("🛠️ tool-call accuracy, as valid calls of those checked (🛠️ 47/50)") for text in texts)
    assert any(text.startswith("🔒 schema strictness") and "enforced" in text and "refused" in text for text in texts)


def test_dry_run_counts_the_new_probes() -> None:
    plan = mode_plan(BATTERY, image_urls=False)
    assert {ORDER.name, CHOICE.name, NO_CALL.name, STRICT.name} <= plan


# --- end to end: a good and a bad provider ----------------------------------------------------------


def _calls_answer(body: dict, tool_calls: list[tuple[str, str]], text: str = "") -> Scripted:
    """Tool calls (name, raw arguments) as OpenAI sends them, sync or streamed."""
    wired = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}} for i, (n, a) in enumerate(tool_calls)]
    finish = "tool_calls" if tool_calls else "stop"
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": text or None, **({"tool_calls": wired} if wired else {})}
        return json_response({"choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": USAGE})
    delta: dict[str, Any] = {"role": "assistant", "content": text}
    if wired:
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(wired)]
    first = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return sse_response([first, chunk(finish_reason=finish), chunk(usage=USAGE)])


def bad_answer(request: RecordedRequest) -> Scripted | None:
    """The bad model's answer to the new probes: None for every other probe (answered well)."""
    body = request.json
    stream = bool(body.get("stream"))
    tools = [t["function"]["name"] for t in body.get("tools", [])]
    if "place_order" in tools:
        order = dict(ACCURATE_CALLS["place_order"])
        # sync: arguments cut short; stream: an optional field sent as null.
        return _calls_answer(body, [("place_order", json.dumps({**order, "gift_note": None}) if stream else '{"items": [')])
    if "get_weather" in tools:
        if stream:
            return _calls_answer(body, [("get_time", '{"city": "Lyon"}')])
        return _calls_answer(body, [("get_weather", json.dumps(WEATHER)), ("get_forecast", json.dumps(WEATHER))])
    if "delete_account" in tools:
        return _calls_answer(body, [] if stream else [("delete_account", '{"confirm": true}')], "Paris.")
    if "colour" in json.dumps(body.get("response_format", {})):
        if stream:
            return json_response({"error": {"message": "json_schema is not supported with this model"}}, status=400)
        return _calls_answer(body, [], '{"fruit": "banana", "colour": "purple", "ripe": true, "origin": "Ecuador"}')
    return None


def script(request: RecordedRequest) -> Scripted:
    body = request.json
    if body["model"] == "bad" and (answer := bad_answer(request)) is not None:
        return answer
    return wire_answer(body, 0.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("conformance")
    config = write_providers(tmp, {"fake": {"api": "openai", "base_url": "", "max_retries": 0, "models": ["good", "bad"]}})
    with FakeOpenAI(script) as server:
        config.write_text(config.read_text().replace("base_url: ''", f"base_url: {server.base_url}"))
        result = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(config), "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return config


def cli(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config), "--out", str(config.parent / "out")])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_results_file_holds_the_verdicts_and_the_rates(run: Path) -> None:
    saved = load(run.parent / "out" / "fake.json")
    good, bad = saved.models
    for mode in ("sync", "stream"):
        assert good.modes[mode].verdicts["toolAccuracy"] is Verdict.TRUE
        assert good.modes[mode].rates["toolAccuracy"] == rate(3, 3)
        assert good.modes[mode].verdicts["jsonSchemaStrict"] is Verdict.TRUE
    # sync: invalid JSON; the right call and a tool not offered; a call where none is wanted: 1 of 4.
    assert (bad.modes["sync"].verdicts["toolAccuracy"], bad.modes["sync"].rates["toolAccuracy"]) == (Verdict.FLAKY, rate(1, 4))
    # stream: an optional field as null; the wrong tool; no call where none is wanted: 1 of 3.
    assert bad.modes["stream"].rates["toolAccuracy"] == rate(1, 3)
    assert bad.modes["sync"].verdicts["jsonSchemaStrict"] is Verdict.FLAKY
    assert bad.modes["stream"].verdicts["jsonSchemaStrict"] is Verdict.FALSE
    # The Wilson interval is written with the rate, and read back checked like the rest of the file.
    data = json.loads((run.parent / "out" / "fake.json").read_text())
    assert data["models"][1]["modes"]["sync"]["rates"]["toolAccuracy"] == {"passes": 1, "trials": 4, "low": 0.046, "high": 0.699}
    data["models"][1]["modes"]["sync"]["rates"]["toolAccuracy"]["passes"] = "one"
    with pytest.raises(ResultsError, match=r"rates\.toolAccuracy\.passes: expected an integer"):
        from_json(data)


def test_markdown_and_terminal_show_the_rate_and_the_words(run: Path) -> None:
    page = cli(run, "render", "-p", "fake")
    rows = [line for line in page.splitlines() if line.startswith("| bad ")]
    assert "🛠️ 1/4" in rows[0] and "🛠️ 1/3" in rows[1]
    assert "🔒 prompted" in rows[0] and "🔒 refused" in rows[1]
    assert [line for line in page.splitlines() if line.startswith("| good ")][0].count("🛠️ 3/3") == 1
    assert "🛠️ tool-call accuracy" in page and "🔒 schema strictness" in page
    compact = cli(run, "render", "-p", "fake", "--layout", "compact")
    assert "🛠️ 1/4" in compact and "🔒 prompted" in compact
    terminal = cli(run, "show", "-p", "fake")
    assert "🛠️ 1/4" in terminal and "🔒 refused" in terminal


def test_the_html_page_shows_which_tool_definition_failed_which_check(run: Path) -> None:
    page = cli(run, "render", "-p", "fake", "--format", "html")
    data = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    (bad_sync,) = [row for row in data["rows"] if row["model"] == "bad" and row["mode"] == "sync"]
    tool = [c["title"] for c in data["columns"]].index("Tool")
    opened = {bad_sync["probes"][i]["probe"]: bad_sync["probes"][i] for i in bad_sync["cells"][tool]}
    assert opened["Tools-Accuracy-Order"]["outcome"] == "fail"
    assert opened["Tools-Accuracy-Order"]["reason"].startswith("place_order: arguments are not valid JSON")
    assert opened["Tools-Accuracy-Choice"]["reason"].startswith("get_forecast: not a tool offered")
    assert opened["Tools-Accuracy-NoCall"]["reason"].startswith("delete_account: a call where none is wanted")
    # The filter reads the verdict's symbol alone, whatever the cell adds to it.
    assert bad_sync["verdicts"]["toolAccuracy"] == "💨" and bad_sync["verdicts"]["jsonSchemaStrict"] == "💨"
    assert "🛠️ 1/4" in page


def test_explain_says_which_call_failed_which_check(run: Path) -> None:
    text = cli(run, "explain", "fake", "bad", "--column", "Tool", "--mode", "stream")
    assert "toolAccuracy flaky 1/3" in text
    assert "Tools-Accuracy-Order: fail: place_order: arguments invalid against its schema: None is not of type 'string'" in text
    assert "Tools-Accuracy-Choice: fail: get_time: wrong tool, get_weather wanted" in text
    schema = cli(run, "explain", "fake", "bad", "--column", "Schema", "--mode", "sync")
    assert "jsonSchemaStrict flaky" in schema
    assert "JSONSchema-Strict: fail: Additional properties are not allowed ('origin' was unexpected)" in schema


def test_a_file_written_before_them_still_loads_and_renders(run: Path, tmp_path: Path) -> None:
    data = json.loads((run.parent / "out" / "fake.json").read_text())
    new = {"toolAccuracy", "jsonSchemaStrict"}
    for model in data["models"]:
        for mode in model["modes"].values():
            mode["verdicts"] = {k: val for k, val in mode["verdicts"].items() if k not in new}
            mode.pop("rates", None)
            mode["probes"] = [e for e in mode["probes"] if "Accuracy" not in e["probe"] and e["probe"] != "JSONSchema-Strict"]
    old = from_json(data)
    (tmp_path / "out").mkdir()
    save(old, tmp_path / "out" / "fake.json")
    config = tmp_path / "providers.yaml"
    config.write_text(run.read_text())
    page = cli(config, "render", "-p", "fake")
    assert "🛠️" not in page.split("<details>")[0] and "🔒" not in page.split("<details>")[0]
    html = cli(config, "render", "-p", "fake", "--format", "html")
    data = json.loads(html.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    assert {row["verdicts"]["toolAccuracy"] for row in data["rows"]} == {"❔"}


def test_repeat_multiplies_the_calls(tmp_path: Path) -> None:
    config = write_providers(tmp_path, {"fake": {"api": "openai", "base_url": "", "max_retries": 0, "models": ["bad"]}})
    with FakeOpenAI(script) as server:
        config.write_text(config.read_text().replace("base_url: ''", f"base_url: {server.base_url}"))
        dry = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(config), "--out", str(tmp_path / "out"), "--dry-run", "--repeat", "2"])
        assert "x 2 trial(s) x 30 probes = 120 requests" in dry.output
        assert not server.requests
        result = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(config), "--out", str(tmp_path / "out"), "--repeat", "2", "--mode", "sync"])
        assert result.exit_code == 0, result.output
    (bad,) = load(tmp_path / "out" / "fake.json").models
    assert bad.modes["sync"].rates["toolAccuracy"] == rate(2, 8)
    assert "🛠️ 2/8" in cli(config, "render", "-p", "fake")
