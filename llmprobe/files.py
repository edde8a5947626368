"""Files read within a limit, and written so that an interruption never leaves half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class Unreadable(Exception):
    """A file that cannot be read, or is longer than its reader's limit; says why in a few words,
    for the caller to put after the path."""


class TooLarge(Unreadable):
    """A file longer than its reader's limit: not the kind of file the reader expects."""


def read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, refused past `limit` bytes.

    Reads at most limit + 1 bytes instead of trusting `stat`: a file that grows while it is
    read, or one whose size `stat` cannot tell (a FIFO, /dev/zero), stays within the limit.
    Raises Unreadable (TooLarge past the limit).
    """
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise TooLarge(f"larger than {limit} bytes")
    return data


def write_atomically(path: Path, content: str | bytes) -> None:
    """A temporary file in the same folder, flushed to disk, then renamed into place:
    readers see the previous version or the new one, never a mix. Text is written as UTF-8.
    Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); results and cassettes are meant to be shared.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
