"""Files that are never left half-written: a temp file in the target's own folder, fsync, then rename.

A rename within one folder is atomic on POSIX filesystems, so a reader (or a resumed run) sees either the old
file or the new one, never a partial write, and a failure (a full disk) leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sisr.plumbing.errors import SISRError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside `path` for writing; on success fsync it and rename it over `path`.

    The temp name starts with a dot and ends in `.tmp`, so no image listing or checkpoint glob takes it for a
    finished file. On any error the temp file is removed and `path` is untouched; an OSError (ENOSPC, EACCES)
    becomes one sentence naming the folder.

    Args:
        path: the final file.
        mode: "wb" or "w".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle_fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle_fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SISRError(
            f"could not write {path.name} in {path.parent} ({exc.strerror or exc}); free space or fix permissions "
            "there, the previous file is intact."
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself (the folder entry); a no-op where folders cannot be opened."""
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


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write `payload` as indented, key-sorted JSON, atomically.

    Args:
        path: the JSON file.
        payload: JSON-serialisable data.
    """
    with atomic_write(path, "w") as handle:
        handle.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
