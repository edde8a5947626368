"""One attachment model: media probes are battery data, each dialect carries a modality or refuses it."""

from __future__ import annotations

import copy
from importlib import resources

import pytest
import yaml

from llmprobe import verdicts as v
from llmprobe.battery import BatteryError, MediaProbe, load_battery, media_bytes, parse_battery
from llmprobe.dialects import DIALECTS, get_dialect
from llmprobe.errors import UnsupportedOption
from llmprobe.neutral import AttachmentPart, Exchange, Message, Reply, Request


def battery_data() -> dict:
    text = (resources.files("llmprobe.probes") / "battery.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def test_the_image_entry_makes_one_probe_per_file_and_way_named_as_before() -> None:
    names = [p.name for p in load_battery().media]
    assert names == [f"Image-{ext}-{way}" for ext in ("jpg", "gif", "png", "webp") for way in ("Inline", "URL")]
    probe = load_battery().media[0]
    assert (probe.attachment.file, probe.attachment.mime, probe.attachment.modality) == ("banana.jpg", "image/jpeg", "image")


def test_a_media_probe_sends_the_file_inline_or_by_url() -> None:
    inline, by_url = load_battery().media[:2]
    assert inline.sent_part("") == AttachmentPart("image", "image/jpeg", data=media_bytes("banana.jpg"))
    assert by_url.sent_part("https://x.invalid/m/") == AttachmentPart("image", "image/jpeg", url="https://x.invalid/m/banana.jpg")
    assert by_url.sent_part("") is None and by_url.media_request(stream=False, base_url="") is None


def test_ways_can_be_limited_per_file() -> None:
    data = battery_data()
    data["probes"]["Image"]["media"] = [{"file": "banana.png", "mime": "image/png", "modality": "image", "ways": ["URL"]}]
    assert [p.name for p in parse_battery(data).media] == ["Image-png-URL"]


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
