"""One attachment model: media probes are battery data, each dialect carries a modality or refuses it."""

from __future__ import annotations

import base64
import copy
import json
from importlib import resources

import pytest
import yaml

from conftest import FIXTURES, REPO, needs_fixtures
from llmprobe import capabilities, judging
from llmprobe import explain as explain_module
from llmprobe import verdicts as v
from llmprobe.battery import BatteryError, MediaProbe, load_battery, media_bytes, parse_battery
from llmprobe.capabilities import NAMES, Medium
from llmprobe.cassettes import load_cassette
from llmprobe.config import ModelConfig, ProviderConfig
from llmprobe.dialects import DIALECTS, HttpCall, get_dialect, refuse_modality
from llmprobe.errors import UnsupportedOption
from llmprobe.neutral import AttachmentPart, Exchange, Message, Reply, Request
from llmprobe.render import evidence, tables
from llmprobe.results import Evidence, Modality, ModelResult, ModeResult, ProviderResult, Verdict
from llmprobe.results_file import load
from llmprobe.runner import mode_plan
from support.toy_dialect import ToyDialect
from test_render import rendered


def battery_data() -> dict:
    text = (resources.files("llmprobe.probes") / "battery.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def test_the_image_entry_makes_one_probe_per_file_and_way_named_as_before() -> None:
    names = [p.name for p in load_battery().media if p.attachment.modality == "image"]
    assert names == [f"Image-{ext}-{way}" for ext in ("jpg", "gif", "png", "webp") for way in ("Inline", "URL")]
    probe = load_battery().media[0]
    assert (probe.attachment.file, probe.attachment.mime, probe.attachment.modality) == ("banana.jpg", "image/jpeg", "image")


def test_a_media_probe_sends_the_file_inline_or_by_url() -> None:
    inline, by_url = load_battery().media[:2]
    assert inline.sent_part("") == AttachmentPart("image", "image/jpeg", data=media_bytes("banana.jpg"), name="banana.jpg")
    assert by_url.sent_part("https://x.invalid/m/") == AttachmentPart(
        "image", "image/jpeg", url="https://x.invalid/m/banana.jpg", name="banana.jpg"
    )
    assert by_url.sent_part("") is None and by_url.media_request(stream=False, base_url="") is None


def test_ways_can_be_limited_per_file() -> None:
    data = battery_data()
    data["probes"]["Image"]["media"] = [{"file": "banana.png", "mime": "image/png", "modality": "image", "ways": ["URL"]}]
    assert [p.name for p in parse_battery(data).media if p.name.startswith("Image")] == ["Image-png-URL"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"file": "a.xyz", "mime": "x/y", "modality": "smell"}, "unknown modality 'smell'"),
        ({"file": "a.png", "mime": "image/png", "modality": "image", "ways": ["Fax"]}, "ways are some of"),
        ({"file": "a.png", "mime": "image/png", "modality": "image", "colour": 1}, "unknown keys"),
        ({"file": "a.png", "modality": "image"}, "missing or unknown 'mime'"),
    ],
)
def test_a_bad_media_entry_is_refused_at_load(entry: dict, message: str) -> None:
    data = copy.deepcopy(battery_data())
    data["probes"]["Image"]["media"] = [entry]
    with pytest.raises(BatteryError, match=message):
        parse_battery(data)


@pytest.mark.parametrize("api", sorted(DIALECTS))
def test_every_dialect_refuses_a_modality_it_has_no_part_for_before_sending(api: str) -> None:
    dialect = get_dialect(api, "https://x.invalid/v1")
    toy = AttachmentPart("smell", "x-smell/rose", data=b"\x00")
    with pytest.raises(UnsupportedOption, match="smell input"):
        dialect.build("m", Request((Message.user("What is it?", toy),)))


def _passing(probe: MediaProbe) -> Exchange:
    return Exchange(reply=Reply(text="Banana."), status=200)


def test_media_input_reports_each_modality_with_its_ways_and_formats() -> None:
    battery = load_battery()
    sync = {p.name: _passing(p) for p in battery.media if p.attachment.ext in ("png", "jpg") and p.way == "Inline"}
    stream = {p.name: _passing(p) for p in battery.media if p.name == "Image-gif-URL"}
    found = v.media_input([sync, stream], battery)
    assert set(found) == {"image"}
    assert (found["image"].inline, found["image"].url, found["image"].formats) == (True, True, ["image/gif", "image/jpeg", "image/png"])
    assert v.media_input([{}], battery) == {}


# --- each dialect builds the part its recordings carry, byte for byte (the files are the recorded ones) ---

RECORDED_PARTS = [
    # (provider, dialect, options, model, cassette, probe)
    ("openaichat-2025-09-02", "openai", {}, "gpt-4o-audio-preview", "GenSyncMultiModal-Audio-wav-Inline", "Audio-wav-Inline"),
    ("openaichat-2025-09-02", "openai", {}, "gpt-4o-audio-preview", "GenSyncMultiModal-Audio-mp3-Inline", "Audio-mp3-Inline"),
    ("openaichat-2025-09-02", "openai", {}, "gpt-4o-audio-preview", "GenSyncMultiModal-Audio-aac-Inline", "Audio-aac-Inline"),
    ("openaichat-2025-09-02", "openai", {}, "gpt-4.1-nano", "GenSyncMultiModal-Document-pdf-Inline", "Document-pdf-Inline"),
    ("openaichat-2025-09-02", "openai", {}, "gpt-4.1-nano", "GenSyncMultiModal-Video-mp4-Inline", "Video-mp4-Inline"),
    ("mistral-2025-09-02", "openai", {"media_parts": "mistral"}, "voxtral-small-latest", "GenSyncMultiModal-Audio-mp3-Inline", "Audio-mp3-Inline"),
    ("openairesponses-2025-09-03", "openai-responses", {}, "gpt-4.1", "GenSyncMultiModal-Document-pdf-Inline", "Document-pdf-Inline"),
    ("openairesponses-2025-09-03", "openai-responses", {}, "gpt-4.1", "GenSyncMultiModal-Video-mp4-Inline", "Video-mp4-Inline"),
    ("anthropic-2025-09-02", "anthropic", {}, "claude-3-5-haiku-20241022", "GenSyncMultiModal-Document-pdf-Inline", "Document-pdf-Inline"),
    ("gemini-2025-09-02", "gemini", {}, "gemini-2.5-flash-lite", "GenSyncMultiModal-Audio-aac-Inline", "Audio-aac-Inline"),
    ("gemini-2025-09-02", "gemini", {}, "gemini-2.5-flash-lite", "GenSyncMultiModal-Video-webm-Inline", "Video-webm-Inline"),
    ("gemini-2025-09-02", "gemini", {}, "gemini-2.5-flash-lite", "GenSyncMultiModal-Document-pdf-Inline", "Document-pdf-Inline"),
]


def _attachments(body: dict) -> list[dict]:
    """The non-text parts of the first user turn, whichever wire: the attachment as sent."""
    turn = (body.get("messages") or body.get("input") or body.get("contents"))[0]
    parts = turn.get("content") or turn.get("parts")
    # Anthropic's cache_control is the reference's caching hint, not part of the question.
    return [{k: v for k, v in p.items() if k != "cache_control"} for p in parts if "text" not in p]


@needs_fixtures
@pytest.mark.parametrize(("recordings", "api", "options", "model", "cassette", "probe"), RECORDED_PARTS)
def test_each_dialect_sends_the_part_its_recordings_carry(recordings, api, options, model, cassette, probe) -> None:
    recorded = load_cassette(FIXTURES / recordings / "scoreboard-cassettes" / model / f"{cassette}.yaml")
    expected = _attachments(json.loads(recorded.interactions[0].request_body))
    media = next(p for p in load_battery().media if p.name == probe)
    request = media.media_request(stream=False, base_url="")
    assert request is not None
    call = get_dialect(api, "https://x.invalid/v1", options).build(model, request)
    assert _attachments(call.json) == expected


@pytest.mark.parametrize(
    ("api", "options", "probe", "refused"),
    [
        ("anthropic", {}, "Audio-mp3-Inline", "audio input"),
        ("anthropic", {}, "Video-mp4-URL", "video input"),
        ("openai", {}, "Document-pdf-URL", "document input"),
        ("openai", {"media_parts": "mistral"}, "Video-mp4-Inline", "video input"),
        ("openai", {"media_parts": "mistral"}, "Document-pdf-Inline", "document input"),
        ("cohere", {}, "Audio-wav-Inline", "audio input"),
        ("cloudflare", {}, "Document-pdf-Inline", "document input"),
        ("ollama", {}, "Video-webm-Inline", "video input"),
    ],
)
def test_a_medium_the_wire_has_no_part_for_is_refused_before_sending(api, options, probe, refused) -> None:
    media = next(p for p in load_battery().media if p.name == probe)
    request = media.media_request(stream=False, base_url="https://media.invalid/probes")
    assert request is not None
    with pytest.raises(UnsupportedOption, match=refused):
        get_dialect(api, "https://x.invalid/v1", options).build("m", request)


def test_mistral_takes_documents_and_audio_by_link() -> None:
    dialect = get_dialect("openai", "https://x.invalid/v1", {"media_parts": "mistral"})
    for probe, part in [
        ("Document-pdf-URL", {"type": "document_url", "document_url": "https://m.invalid/p/document.pdf"}),
        ("Audio-ogg-URL", {"type": "audio_url", "audio_url": {"url": "https://m.invalid/p/audio.ogg"}}),
    ]:
        media = next(p for p in load_battery().media if p.name == probe)
        request = media.media_request(stream=False, base_url="https://m.invalid/p")
        assert request is not None
        assert dialect.build("voxtral-small-latest", request).json["messages"][0]["content"][1] == part


@pytest.mark.parametrize(
    ("text", "word", "recognised"),
    [
        ("Orange.", "orange", True),
        ('The video displays the word "BANANA" in yellow text.', "banana", True),
        ("oranges", "orange", False),
        ("I cannot hear the audio, but it may be orange.", "orange", False),
        ("I'm unable to listen to audio files; orange?", "orange", False),
        ("Without seeing the video I would guess banana.", "banana", False),
        ("There is no document attached. Orange", "orange", False),
    ],
)
def test_a_reply_recognises_a_medium_only_naming_it_without_denying_it(text: str, word: str, recognised: bool) -> None:
    reply = Reply(text=text)
    assert (judging.names_word(reply, word) and judging.sees_medium(reply)) is recognised


@needs_fixtures
def test_the_committed_results_read_every_medium_as_the_reference_does() -> None:
    """`in`, field by field, on every recorded provider's committed results (D26: 828 of 828 cells)."""
    from support.agreement import cells, recordings

    compared = 0
    for path in sorted((REPO / "results").glob("*.json")):
        if path.stem == "local":
            continue
        found = cells(load(path), recordings(path.stem) / "scoreboard.json")
        compared += len(found)
        assert {cell: pair for cell, pair in found.items() if pair[0] != pair[1]} == {}, path.stem
    assert compared == 828


# --- a new medium is data: the registry's entry, a battery entry and its dialect's part encoder ---


class SmellDialect(ToyDialect):
    """The toy dialect with a part encoder for smells, the only code a new medium needs."""

    def build(self, model: str, request: Request) -> HttpCall:
        smells = [p for m in request.messages for p in m.parts if isinstance(p, AttachmentPart)]
        for part in smells:
            refuse_modality(part, ("smell",), "toy smells only")
        text = Request(tuple(Message(m.role, tuple(p for p in m.parts if not isinstance(p, AttachmentPart))) for m in request.messages))
        call = super().build(model, text)
        return HttpCall(call.method, call.url, {**call.json, "smells": [base64.b64encode(p.data or b"").decode() for p in smells]})


def test_a_toy_medium_added_by_data_alone_reaches_results_tables_html_and_explain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capabilities, "MODALITIES", (*capabilities.MODALITIES, Medium("smell", "👃", "smell")))
    monkeypatch.setitem(DIALECTS, "toy-smell", "test_media:SmellDialect")
    data = battery_data()
    data["probes"]["Smell"] = {
        "prompt": "What does it smell of? Reply with only one word.",
        "media": [{"file": "banana.png", "mime": "x-smell/rose", "modality": "smell", "ways": ["Inline"]}],
        "expect": {"names": "rose", "sees": True},
    }
    battery = parse_battery(data)
    for module in (tables, evidence, explain_module):
        monkeypatch.setattr(module, "load_battery", lambda: battery)
    (smell,) = [p for p in battery.media if p.attachment.modality == "smell"]
    # Results: the runner's rule, on a reply that names the smell.
    found = v.media_input([{smell.name: Exchange(reply=Reply(text="Rose."), status=200)}], battery)
    assert {k: (m.inline, m.url, m.formats) for k, m in found.items()} == {"smell": (True, False, ["x-smell/rose"])}
    probes = [Evidence("Text", "pass", "'Hello.'", 200), Evidence(smell.name, "pass", "'Rose.'", 200)]
    model = ModelResult(
        id="m",
        in_={"text": Modality(inline=True), **found},
        modes={"sync": ModeResult(verdicts=dict.fromkeys(NAMES, Verdict.TRUE), probes=probes)},
    )
    result = ProviderResult("toy", "2026-01-01T00:00:00Z", "0", models=[model])
    config = ProviderConfig(name="toy", api="toy-smell", base_url="https://toy.invalid", models=(ModelConfig(id="m"),))
    pairs = [(config, result)]
    # Markdown, terminal and HTML: the ➛In cell (by code point, as the reference sorts it) and the legend.
    markdown = rendered("markdown", pairs)
    assert "👃💬" in markdown and "👃 smell" in markdown
    terminal = rendered("terminal", pairs)
    assert "👃💬" in terminal and "👃 smell" in terminal
    page = rendered("html", pairs)
    assert "👃💬" in page and "👃 smell" in page
    # explain: the ➛In cell's evidence is the smell's reply, with the request to send it again.
    explanation = explain_module.explain(config, result, "m", column="➛In")
    (cell,) = explanation.modes[0].cells
    assert cell.cell == "👃💬"
    sniffed = next(p for p in cell.probes if p.probe == smell.name)
    assert sniffed.trials[0].reason == "'Rose.'"
    assert sniffed.reproduction.body["smells"] == [base64.b64encode(media_bytes("banana.png")).decode()]


def test_dry_run_counts_every_media_probe() -> None:
    """--dry-run counts `mode_plan`: every inline medium, and the URL ones when there is a base URL."""
    battery = load_battery()
    media = {p.name for p in battery.media}
    inline = {p.name for p in battery.media if p.way == "Inline"}
    assert inline and mode_plan(battery, image_urls=False) & media == inline
    assert mode_plan(battery, image_urls=True) & media == media


def test_a_provider_switches_a_medium_off_in_providers_yaml(tmp_path) -> None:
    """`unsupported: [audio]`: no audio request is sent, and the model reads no audio (❌, not ❔)."""
    from typer.testing import CliRunner

    from llmprobe.cli import app
    from support.configs import write_providers
    from support.passing_provider import PassingProvider

    with PassingProvider(latency=0) as server:
        provider = {"api": "openai", "base_url": server.base_url, "max_retries": 0, "models": ["fake/m"]}
        (tmp_path / "on").mkdir()
        (tmp_path / "off").mkdir()
        on = write_providers(tmp_path / "on", {"fake": provider})
        off = write_providers(tmp_path / "off", {"fake": {**provider, "unsupported": ["audio"]}})
        for config in (on, off):
            server.requests.clear()
            result = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(config), "--out", str(config.parent / "out"), "--mode", "sync"])
            assert result.exit_code == 0, result.output
            audio = [r for r in server.requests if b"input_audio" in r.body or b"data:audio/" in r.body]
            model = load(config.parent / "out" / "fake.json").model("fake/m")
            assert model is not None
            if config is on:
                assert audio and model.in_["audio"].inline
            else:
                assert audio == [] and "audio" not in model.in_ and "document" in model.in_
                refused = [e for e in model.modes["sync"].probes if e.probe.startswith("Audio-")]
                assert refused and all(e.outcome == "unsupported" for e in refused)
