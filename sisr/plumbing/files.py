"""Files that are never left half-written: a temp file in the target's own folder, fsync, then rename.

A rename within one folder is atomic on POSIX filesystems, so a reader (or a resumed run) sees either the old
file or the new one, never a partial write, and a failure (a full disk) leaves the previous file intact.

Files get the permissions `open()` would give them (0666 less the process's umask), not `mkstemp`'s 0600.
A temp file is named `.<name>.sisr-<pid>@<host>.<random>.tmp`; one left behind by a killed process is removed
by the next write into the same folder (once per folder and process): when its writer's pid is no longer alive
on this host, or when it is over a day old (a writer on another host). A live writer's temp file is never touched.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sisr.plumbing.errors import SISRError, find_cause

STALE_AFTER_SECONDS = 24 * 3600
"""A temp file this old is garbage whoever wrote it: no save takes a day."""
_TEMP_NAME = re.compile(r"^\..+\.sisr-(\d+)@(.+)\.[^.]+\.tmp$")
_swept: set[Path] = set()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (`/proc/self/status`); elsewhere set
    and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def is_stale_temp(path: Path, host: str | None = None, now: float | None = None) -> bool:
    """Whether `path` is a temp file of `atomic_write` whose writer is gone (see the module docstring)."""
    if not path.name.endswith(".tmp") or not path.name.startswith("."):
        return False
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    if age > STALE_AFTER_SECONDS:
        return True
    match = _TEMP_NAME.match(path.name)
    return bool(match) and match.group(2) == (host or socket.gethostname()) and not _pid_alive(int(match.group(1)))


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temp files that killed writers left in `folder`; returns what was removed."""
    removed = []
    host = socket.gethostname()
    try:
        candidates = [entry for entry in folder.iterdir() if entry.name.endswith(".tmp")]
    except OSError:
        return removed
    for path in candidates:
        if is_stale_temp(path, host):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def _write_error(path: Path, cause: OSError, existed: bool) -> SISRError:
    intact = ", the previous file is intact" if existed else ""
    return SISRError(
        f"could not write {path.name} in {path.parent} ({cause.strerror or cause}); free space or fix permissions "
        f"there{intact}."
    )


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside `path` for writing; on success fsync it and rename it over `path`.

    The temp name starts with a dot and ends in `.tmp`, so no image listing or checkpoint glob takes it for a
    finished file. On any error the temp file is removed and `path` is untouched; a failed write (ENOSPC, EACCES;
    also when torch.save reports it as a RuntimeError) becomes one sentence naming the file, which says the
    previous file is intact only when there was one.

    Args:
        path: the final file.
        mode: "wb" or "w".
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent not in _swept:
            _swept.add(path.parent)
            remove_stale_temps(path.parent)
        existed = path.exists()
        marker = f"sisr-{os.getpid()}@{socket.gethostname()}"
        handle_fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{marker}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc, existed=path.is_file()) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle_fd, mode) as handle:
            os.fchmod(handle.fileno(), 0o666 & ~current_umask())  # what open() would give, not mkstemp's 0600
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        cause = find_cause(exc, OSError)  # torch.save reports ENOSPC as a RuntimeError whose context it is
        if cause is None:
            raise
        raise _write_error(path, cause, existed) from exc
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


def finite_or_null(value: Any) -> Any:
    """`value` with every NaN or infinite float (nested in dicts, lists, tuples) replaced by None: JSON has no
    `NaN` or `Infinity`, and Python's json module would write them, making the file unreadable to strict readers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write `payload` as indented, key-sorted, strict JSON (NaN and infinities as null), atomically.

    Args:
        path: the JSON file.
        payload: JSON-serialisable data.
    """
    text = json.dumps(finite_or_null(payload), indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_write(path, "w") as handle:
        handle.write(text)
