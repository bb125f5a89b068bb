"""Verified, idempotent download and safe extraction of the archives listed in :mod:`sisr.data.sources`.

Layout under the data root (``data.root``, or ``$SISR_DATA_DIR`` when that is not given):
``downloads/<archive>`` holds the archives, and each archive unpacks into ``<source.extract_to>``.
A folder that was unpacked and verified carries a ``.sisr_complete`` marker, so a second call does nothing.
Nothing is downloaded at import time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from sisr.data.sources import Source
from sisr.plumbing.errors import SISRError
from sisr.plumbing.paths import data_root

log = logging.getLogger(__name__)

MARKER = ".sisr_complete"
"""File written into an unpacked folder once its archive was verified and fully extracted."""
_CHUNK = 1 << 20  # 1 MiB per read while downloading and hashing


def archive_path(source: Source, root: Path) -> Path:
    """Where the archive of ``source`` is kept under the data root."""
    return Path(root) / "downloads" / source.filename


def target_path(source: Source, root: Path) -> Path:
    """The folder ``source`` provides once unpacked."""
    return Path(root) / source.provides


def is_prepared(source: Source, root: Path) -> bool:
    """Whether ``source`` was already downloaded, verified and unpacked under ``root``."""
    return (target_path(source, root) / MARKER).is_file()


def extraction_marker(source: Source, root: Path) -> Path:
    """File present while ``source`` is being unpacked: its folder is incomplete until the marker is gone."""
    return root / source.extract_to / f".sisr_extracting_{source.name}"


def is_available(source: Source, root: Path) -> bool:
    """Whether the folder ``source`` provides is there and not left half-unpacked by an interrupted run."""
    return target_path(source, root).is_dir() and not extraction_marker(source, root).exists()


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks (archives can be several GB).

    Args:
        path: the file.
        algorithm: a :mod:`hashlib` name such as "sha256" or "md5".
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_checksum(source: Source) -> tuple[str, str] | None:
    """(algorithm, hex digest) to verify ``source`` with: SHA-256 when known, MD5 otherwise."""
    if source.sha256:
        return "sha256", source.sha256.lower()
    if source.md5:
        return "md5", source.md5.lower()
    return None


def verify(source: Source, path: Path, *, shown_name: str | None = None) -> bool:
    """Check a downloaded archive against the published checksum.

    Args:
        source: what the file should be.
        path: the file to check.
        shown_name: name used in the error message (defaults to the file's path).

    Returns:
        True when verified, False when no checksum is known (a warning says it cannot be verified).

    Raises:
        SISRError: the checksum differs (the file is corrupt or truncated); the message names the file and
            both checksums.
    """
    expected = _expected_checksum(source)
    if expected is None:
        warnings.warn(
            f"{source.filename} cannot be verified: no published checksum is known for {source.url}.",
            stacklevel=2,
        )
        return False
    algorithm, want = expected
    got = file_digest(path, algorithm)
    if got != want:
        size_note = ""
        if source.size is not None and path.stat().st_size != source.size:
            size_note = f" and is {path.stat().st_size} bytes instead of {source.size}"
        raise SISRError(
            f"{shown_name or path} is corrupt or truncated: its {algorithm} is {got}, expected {want}{size_note}; "
            f"it was removed, so run again to download {source.url} afresh."
        )
    return True


def _fetch(source: Source, destination: Path) -> None:
    """Download ``source.url`` to ``destination`` with a progress bar (urllib handles http(s) and file://)."""
    with urllib.request.urlopen(source.url) as response, open(destination, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length else source.size
        with tqdm(total=total, unit="B", unit_scale=True, desc=source.filename, disable=None) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))


def offline_message(
    sources: list[Source], root: Path, reason: str | None = None, advice: str = "then run again"
) -> str:
    """One sentence saying which archives are missing, where to put them and where they come from.

    Args:
        sources: the archives that could not be obtained.
        root: the data root.
        reason: why they could not be downloaded (e.g. the network error), or None when downloading is off.
        advice: how the sentence ends.
    """
    what = "; ".join(
        f"download {s.url} and put it at {archive_path(s, root)} (or unpack it so that {target_path(s, root)} exists)"
        for s in sources
    )
    because = f" could not be downloaded ({reason})" if reason else " not found"
    names = ", ".join(s.filename for s in sources)
    return f"{names}{because}: {what}, {advice}."


def download(source: Source, root: Path, *, allow_download: bool = True) -> Path:
    """Download and verify the archive of ``source`` unless a verified copy is already there.

    The file is written to ``<archive>.part`` and renamed only after its checksum matched.

    Args:
        source: the archive.
        root: the data root.
        allow_download: when False, only an archive already at :func:`archive_path` is used (no network).

    Returns:
        Path of the verified (or, lacking a checksum, unverifiable) archive.

    Raises:
        SISRError: the network or URL failed (one sentence naming the file, its URL and where to put it), or
            the downloaded file failed verification (it is deleted).
    """
    final = archive_path(source, root)
    if final.is_file():
        try:
            verify(source, final)
            return final
        except SISRError:
            log.warning("Existing archive %s failed verification; it was removed.", final)
            final.unlink()
    if not allow_download:
        raise SISRError(offline_message([source], root, advice="or set data.download=true to download it"))
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    try:
        _fetch(source, part)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise SISRError(offline_message([source], root, str(reason))) from err
    try:
        verify(source, part, shown_name=f"Downloaded {source.filename}")
    except SISRError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    return final


def _check_zip_members(archive: zipfile.ZipFile, destination: Path, archive_name: str) -> None:
    """Refuse a zip whose members are absolute or would land outside ``destination``."""
    base = destination.resolve()
    for name in archive.namelist():
        parts = Path(name.replace("\\", "/")).parts
        drive = len(name) > 1 and name[0].isalpha() and name[1] == ":"  # C:/... on Windows
        unsafe = name.startswith(("/", "\\")) or drive or ".." in parts
        if unsafe or not (base / name).resolve().is_relative_to(base):
            raise SISRError(
                f"{archive_name} contains the unsafe member {name!r} (absolute path or '..'), which would be "
                f"written outside {destination}; the archive was not extracted, delete it and download a "
                "trusted copy."
            )


def _check_tar_members(archive: tarfile.TarFile, destination: Path, archive_name: str) -> None:
    """Refuse absolute members and run tarfile's "data" filter over every member before anything is written."""
    for member in archive.getmembers():
        try:
            if member.name.startswith(("/", "\\")):  # the "data" filter would strip the slash; refuse instead
                raise tarfile.AbsolutePathError(member)
            tarfile.data_filter(member, str(destination))
        except tarfile.FilterError as err:
            raise SISRError(
                f"{archive_name} contains the unsafe member {member.name!r} ({err}); the archive was not extracted, "
                "delete it and download a trusted copy."
            ) from err


def extract(archive: Path, destination: Path) -> None:
    """Safely unpack a zip or tar archive into ``destination``.

    Tar archives go through tarfile's ``filter="data"``; zip members are checked to resolve inside
    ``destination`` (no absolute paths, no ``..``). Every member is checked before anything is written.

    Args:
        archive: the .zip / .tar / .tar.gz / .tgz file.
        destination: folder to unpack into (created if needed).

    Raises:
        SISRError: the archive is unsafe (names the offending member), unreadable, or of an unknown type.
    """
    destination.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                _check_zip_members(zipped, destination, archive.name)
                zipped.extractall(destination)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tarred:
                _check_tar_members(tarred, destination, archive.name)
                tarred.extractall(destination, filter="data")
        else:
            raise SISRError(f"{archive} is neither a zip nor a tar archive; delete it and download it again.")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
        raise SISRError(f"{archive} could not be unpacked ({err}); delete it and download it again.") from err


def prepare(
    source: Source, root: str | os.PathLike | None = None, *, allow_download: bool = True
) -> Path:
    """Make ``source`` available under the data root: download, verify, unpack; a no-op when already done.

    Args:
        source: the archive (see :data:`sisr.data.sources.SOURCES`).
        root: data root (None: ``$SISR_DATA_DIR`` or ``./data``).
        allow_download: when False, only unpack an archive already in ``<root>/downloads`` (no network).

    Returns:
        The folder the source provides (``<root>/<source.provides>``).

    Raises:
        SISRError: offline / unreachable URL (or no local archive with ``allow_download=False``), checksum
            mismatch, unsafe archive, or an archive that does not contain the expected folder.
    """
    root = data_root(root)
    target = target_path(source, root)
    if is_prepared(source, root):
        return target
    archive = download(source, root, allow_download=allow_download)
    in_progress = extraction_marker(source, root)
    in_progress.parent.mkdir(parents=True, exist_ok=True)
    in_progress.touch()  # an interrupted extraction leaves this behind, so the folder is not taken as complete
    extract(archive, root / source.extract_to)
    if not target.is_dir():
        raise SISRError(
            f"{archive} was unpacked into {root / source.extract_to} but {target} does not exist; the archive "
            f"layout changed, so unpack it by hand so that {target} holds the images."
        )
    expected = _expected_checksum(source)
    (target / MARKER).write_text(f"{expected[0]} {expected[1]}\n" if expected else "unverified\n")
    in_progress.unlink()
    return target

