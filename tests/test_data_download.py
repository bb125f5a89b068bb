"""Acquisition: verified idempotent download over file:// URLs, safe extraction, clear offline errors."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from sisr.data import download as dl
from sisr.data.sources import DIV2K_SCALES, SOURCES, Source, div2k_sources
from sisr.plumbing.errors import SISRError


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def _source(archive: Path, *, sha256: str | None = "auto", md5: str | None = None) -> Source:
    payload = archive.read_bytes()
    return Source(
        name="toy",
        url=archive.as_uri(),
        filename=archive.name,
        sha256=hashlib.sha256(payload).hexdigest() if sha256 == "auto" else sha256,
        md5=md5,
        size=len(payload),
        extract_to="set",
        provides="set/images",
        provenance="test",
    )


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_good_archive_downloads_verifies_extracts_and_second_call_is_noop(tmp_path, kind):
    remote = tmp_path / "remote"
    remote.mkdir()
    members = {"images/a.png": b"first", "images/sub/b.png": b"second"}
    archive = _zip(remote / "toy.zip", members) if kind == "zip" else _tar(remote / "toy.tar.gz", members)
    source = _source(archive)
    root = tmp_path / "root"

    target = dl.prepare(source, root)

    assert target == root / "set" / "images"
    assert (target / "a.png").read_bytes() == b"first"
    assert (target / "sub" / "b.png").read_bytes() == b"second"
    assert (target / dl.MARKER).read_text().split() == ["sha256", source.sha256]
    assert dl.archive_path(source, root).read_bytes() == archive.read_bytes()
    assert not list(root.rglob("*.part"))

    # idempotent: even with the remote gone, nothing is downloaded or extracted again
    archive.unlink()
    (target / "a.png").write_bytes(b"edited")
    assert dl.prepare(source, root) == target
    assert (target / "a.png").read_bytes() == b"edited"


def test_verified_archive_on_disk_is_extracted_without_download(tmp_path):
    archive = _zip(tmp_path / "toy.zip", {"images/a.png": b"x"})
    source = replace(_source(archive), url="file:///nonexistent/toy.zip")
    root = tmp_path / "root"
    dl.archive_path(source, root).parent.mkdir(parents=True)
    dl.archive_path(source, root).write_bytes(archive.read_bytes())
    assert (dl.prepare(source, root) / "a.png").read_bytes() == b"x"


def test_md5_only_source_is_verified_with_md5(tmp_path):
    archive = _zip(tmp_path / "toy.zip", {"images/a.png": b"x"})
    good = _source(archive, sha256=None, md5=hashlib.md5(archive.read_bytes()).hexdigest())
    assert (dl.prepare(good, tmp_path / "ok") / dl.MARKER).read_text().startswith("md5 ")
    bad = replace(good, md5="0" * 32)
    with pytest.raises(SISRError, match="its md5 is"):
        dl.prepare(bad, tmp_path / "bad")


def test_bad_checksum_is_detected_file_removed_and_error_names_file_and_both_checksums(tmp_path):
    archive = _zip(tmp_path / "toy.zip", {"images/a.png": b"x"})
    wrong = "0" * 64
    source = _source(archive, sha256=wrong)
    root = tmp_path / "root"
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(SISRError) as info:
        dl.prepare(source, root)
    message = str(info.value)
    assert "toy.zip" in message and wrong in message and actual in message
    assert not dl.archive_path(source, root).exists()
    assert not list((root / "downloads").iterdir())  # no .part left behind
    assert not (root / "set").exists()


def test_truncated_download_is_reported_with_sizes(tmp_path):
    archive = _zip(tmp_path / "toy.zip", {"images/a.png": b"x" * 1000})
    source = _source(archive)
    archive.write_bytes(archive.read_bytes()[:100])  # the server now sends a truncated file
    with pytest.raises(SISRError, match=r"corrupt or truncated.*is 100 bytes instead of"):
        dl.prepare(source, tmp_path / "root")


def test_source_without_checksum_warns_that_it_cannot_be_verified(tmp_path):
    archive = _zip(tmp_path / "toy.zip", {"images/a.png": b"x"})
    source = _source(archive, sha256=None)
    with pytest.warns(UserWarning, match="cannot be verified"):
        target = dl.prepare(source, tmp_path / "root")
    assert (target / dl.MARKER).read_text().strip() == "unverified"


@pytest.mark.parametrize("kind", ["zip", "tar"])
@pytest.mark.parametrize("evil", ["../escape.txt", "images/../../escape.txt", "/abs/escape.txt"])
def test_archive_with_escaping_member_is_refused(tmp_path, kind, evil):
    members = {"images/ok.png": b"ok", evil: b"pwned"}
    archive = _zip(tmp_path / "evil.zip", members) if kind == "zip" else _tar(tmp_path / "evil.tar.gz", members)
    root = tmp_path / "root"
    with pytest.raises(SISRError, match=re.escape(repr(evil)) if kind == "zip" else "unsafe member"):
        dl.prepare(_source(archive), root)
    assert not (tmp_path / "escape.txt").exists() and not (root / "escape.txt").exists()
    assert not (root / "set" / "images" / "ok.png").exists()  # checked before anything was written


def test_tar_error_names_the_offending_member(tmp_path):
    archive = _tar(tmp_path / "evil.tar", {"../escape.txt": b"x"})
    with pytest.raises(SISRError, match=re.escape("'../escape.txt'")):
        dl.extract(archive, tmp_path / "out")


def test_archive_without_expected_folder_is_reported(tmp_path):
    archive = _zip(tmp_path / "toy.zip", {"other/a.png": b"x"})
    with pytest.raises(SISRError, match="does not exist"):
        dl.prepare(_source(archive), tmp_path / "root")


def test_unreachable_url_gives_one_sentence_with_file_path_and_url(tmp_path):
    source = replace(_source(_zip(tmp_path / "toy.zip", {"images/a": b"x"})), url="file:///nonexistent/toy.zip")
    root = tmp_path / "root"
    with pytest.raises(SISRError) as info:
        dl.prepare(source, root)
    message = str(info.value)
    assert "toy.zip could not be downloaded" in message
    assert "file:///nonexistent/toy.zip" in message
    assert str(root / "downloads" / "toy.zip") in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert not list((root / "downloads").iterdir())



def test_source_table_is_complete_and_well_formed():
    for split in ("train", "valid"):
        assert f"div2k_{split}_hr" in SOURCES
        for scale in DIV2K_SCALES:
            source = SOURCES[f"div2k_{split}_lr_bicubic_x{scale}"]
            assert source.url == f"https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_{split}_LR_bicubic_X{scale}.zip"
            assert source.provides == f"DIV2K/DIV2K_{split}_LR_bicubic/X{scale}"
    for source in SOURCES.values():
        assert source.url.endswith(".zip") and source.filename.endswith(".zip")
        assert source.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        assert source.md5 is None or re.fullmatch(r"[0-9a-f]{32}", source.md5)
        assert source.provides.startswith(source.extract_to)
        assert source.provenance
        if source.name.startswith("div2k"):
            assert source.sha256 and source.md5 and source.size and source.size > 10_000_000
    assert {"set5", "set14", "bsd100"} <= SOURCES.keys()
    assert [s.name for s in div2k_sources("train", 4)] == ["div2k_train_hr", "div2k_train_lr_bicubic_x4"]
    assert [s.name for s in div2k_sources("valid", 8)] == ["div2k_valid_hr"]
    with pytest.raises(SISRError, match="split"):
        div2k_sources("test", 4)


def test_interrupted_extraction_is_not_taken_as_complete_and_is_redone(tmp_path, monkeypatch):
    remote = tmp_path / "remote"
    remote.mkdir()
    source = _source(_zip(remote / "toy.zip", {"images/a.png": b"first", "images/b.png": b"second"}))
    root = tmp_path / "root"

    def killed_midway(archive: Path, destination: Path) -> None:
        (destination / "images").mkdir(parents=True)
        (destination / "images" / "a.png").write_bytes(b"first")  # b.png never arrives
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(dl, "extract", killed_midway)
        with pytest.raises(KeyboardInterrupt):
            dl.prepare(source, root)
    assert (root / "set" / "images").is_dir()
    assert not dl.is_available(source, root)

    target = dl.prepare(source, root)  # the archive is on disk: unpacked again, completely
    assert (target / "b.png").read_bytes() == b"second"
    assert dl.is_available(source, root) and dl.is_prepared(source, root)
