"""Files the commands write (exports, bank files, backups): the whole file at its path, or none.

A file is written under a temporary name in the target's own folder, flushed to the disk and then
renamed over the target in one step. If anything fails on the way (a full disk, an error while
producing the rows) the temporary file is removed and whatever was at the target before is left
as it was; a reader never sees half a file. A process killed with SIGKILL can leave only its
hidden temporary file (`.NAME.*.part`) behind, never a partial target.

The temporary file is created readable by its owner only (the exports hold personal data), and
the target takes that mode when it is renamed into place.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


class WriteFailed(OSError):
    """Writing `filename` failed (`errno` says why); nothing was written at that path."""

    def __str__(self) -> str:
        if self.errno == errno.ENOSPC:
            why = "the disk is full (no space left on device)"
        elif self.errno == errno.EDQUOT:
            why = "the disk quota is exhausted"
        else:
            why = self.strerror or "write error"
        return f"{self.filename}: {why}; nothing was written there"


@contextmanager
def atomic_write(
    out: Path, *, binary: bool = False, encoding: str = "utf-8", newline: str | None = ""
) -> Iterator[IO[Any]]:
    """Yield a file to write; on a clean exit it replaces `out` atomically. An OSError on the way
    is raised as WriteFailed naming `out`; any error leaves `out` untouched."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    tmp = Path(name)
    try:
        fh: IO[Any]
        if binary:
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, WriteFailed):
            raise WriteFailed(exc.errno or errno.EIO, exc.strerror or str(exc), str(out)) from exc
        raise
    _sync_folder(out.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
