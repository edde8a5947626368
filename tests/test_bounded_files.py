"""Every file llmprobe reads (providers.yaml, results files, recordings) is read within a limit."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from llmprobe import cassettes, files
from llmprobe.errors import ConfigError
from llmprobe.results_file import ResultsError, load
from llmprobe.safeyaml import compose

ENDLESS = Path("/dev/zero")


def test_a_file_at_the_limit_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert files.read_bounded(path, 10) == b"x" * 10
    with pytest.raises(files.TooLarge):
        files.read_bounded(path, 9)


@pytest.mark.skipif(not ENDLESS.exists(), reason="needs /dev/zero")
def test_a_file_whose_size_stat_cannot_tell_is_still_bounded() -> None:
    # stat says 0 bytes; reading to the end would never finish.
    with pytest.raises(files.TooLarge):
        files.read_bounded(ENDLESS, 1024)


@pytest.mark.skipif(not ENDLESS.exists(), reason="needs /dev/zero")
def test_providers_results_and_recordings_refuse_an_endless_file() -> None:
    with pytest.raises(ConfigError, match="larger than"):
        compose(ENDLESS)
    with pytest.raises(ResultsError, match="larger than"):
        load(ENDLESS)
    with pytest.raises(cassettes.CassetteError, match="larger than"):
        cassettes.load_cassette(ENDLESS)


def test_a_fifo_with_a_slow_writer_is_refused_past_the_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "providers.yaml"
    os.mkfifo(fifo)

    def write() -> None:  # more than the limit; the reader hangs up before the end
        with contextlib.suppress(BrokenPipeError), fifo.open("wb") as f:
            f.write(b"#" * 65536)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with pytest.raises(files.TooLarge):
            files.read_bounded(fifo, 100)
    finally:
        writer.join(timeout=10)
    assert not writer.is_alive()
