"""Where the datasets come from: one frozen record per downloadable archive.

DIV2K (Agustsson & Timofte, NTIRE 2017, "NTIRE 2017 Challenge on Single Image Super-Resolution: Dataset and
Study") is fetched from its official site. Set5 (Bevilacqua et al., BMVC 2012), Set14 (Zeyde et al., 2010) and
BSD100 (Martin et al., ICCV 2001) are fetched from the mirror of Huang et al. ("Single Image Super-Resolution
from Transformed Self-Exemplars", CVPR 2015, github.com/jbhuang0604/SelfExSR), the copy most SR papers and
repositories link to; it is the ``image_SRF_<s>/img_NNN_SRF_<s>_{HR,LR}.png`` layout of the shared data.

Checksums and sizes are copied from public projects, never computed or guessed here; where a number was not
published it is ``None`` and :func:`sisr.data.download.prepare` warns that the file cannot be verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from sisr.plumbing.errors import SISRError


@dataclass(frozen=True)
class Source:
    """One downloadable archive and what it unpacks to.

    Args:
        name: key in :data:`SOURCES` (e.g. ``"div2k_train_hr"``).
        url: where the archive is downloaded from.
        filename: archive file name on disk.
        sha256: published SHA-256 of the archive, or None when none is published.
        md5: published MD5, used only when no SHA-256 is known.
        size: archive size in bytes, or None when unknown.
        extract_to: folder, relative to the data root, the archive is unpacked into.
        provides: folder, relative to the data root, that exists once the archive is unpacked.
        provenance: where the checksum and size come from.
    """

    name: str
    url: str
    filename: str
    sha256: str | None
    md5: str | None
    size: int | None
    extract_to: str
    provides: str
    provenance: str


_DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
# SHA-256 and byte sizes: tensorflow/datasets, tensorflow_datasets/datasets/div2k/checksums.tsv (same values in
# tensorflow_datasets/url_checksums/div2k.txt). MD5: Coloquinte/torchSR, torchsr/datasets/div2k.py.
_TFDS_TORCHSR = "SHA-256/size: tensorflow_datasets div2k/checksums.tsv; MD5: torchSR torchsr/datasets/div2k.py"
# The SelfExSR zips: no SHA-256, MD5 or byte size of these archives is published anywhere we could find
# (deepinv publishes MD5s of extracted folders, computed its own way, not of the archives).
_SELFEXSR = "no published checksum or size for this archive"


def _div2k(split: str, kind: str, sha256: str, md5: str, size: int) -> Source:
    """A DIV2K archive; ``kind`` is "HR" or "LR_bicubic_X<s>"."""
    filename = f"DIV2K_{split}_{kind}.zip"
    if kind == "HR":
        provides = f"DIV2K/DIV2K_{split}_HR"  # the zip holds DIV2K_<split>_HR/0001.png ...
    else:
        provides = f"DIV2K/DIV2K_{split}_LR_bicubic/{kind[-2:]}"  # ... DIV2K_<split>_LR_bicubic/X4/0001x4.png
    return Source(
        name=f"div2k_{split}_{kind.lower()}",
        url=_DIV2K + filename,
        filename=filename,
        sha256=sha256,
        md5=md5,
        size=size,
        extract_to="DIV2K",
        provides=provides,
        provenance=_TFDS_TORCHSR,
    )


_ALL = [
    _div2k(
        "train", "HR", "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
        "bdc2d9338d4e574fe81bf7d158758658", 3530603713,
    ),
    _div2k(
        "valid", "HR", "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
        "9fcdda83005c5e5997799b69f955ff88", 448993893,
    ),
    _div2k(
        "train", "LR_bicubic_X2", "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850",
        "9a637d2ef4db0d0a81182be37fb00692", 925390592,
    ),
    _div2k(
        "train", "LR_bicubic_X3", "ad5c8e5507e2765823d3c2c5bd0934842efcd487c5370604c224090898b3163a",
        "ad80b9fe40c049a07a8a6c51bfab3b6d", 427847282,
    ),
    _div2k(
        "train", "LR_bicubic_X4", "f006b837f4eb52b82909aa01478e6d6d199eefce932179491d0c9dbb706dde3a",
        "76c43ec4155851901ebbe8339846d93d", 246914039,
    ),
    _div2k(
        "valid", "LR_bicubic_X2", "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57",
        "1512c9a3f7bde2a1a21a73044e46b9cb", 117763600,
    ),
    _div2k(
        "valid", "LR_bicubic_X3", "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3",
        "18b1d310f9f88c13618c287927b29898", 54513392,
    ),
    _div2k(
        "valid", "LR_bicubic_X4", "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553",
        "21962de700c8d368c6ff83314480eff0", 31505881,
    ),
    # Set5_SR.zip and Set14_SR.zip hold a top folder "Set5/" / "Set14/"; BSD100_SR.zip holds image_SRF_*/ at
    # its top level (as download scripts that unpack them show), hence the different extract_to.
    Source(
        name="set5",
        url="https://uofi.box.com/shared/static/kfahv87nfe8ax910l85dksyl2q212voc.zip",
        filename="Set5_SR.zip",
        sha256=None,
        md5=None,
        size=None,
        extract_to="benchmark",
        provides="benchmark/Set5",
        provenance=_SELFEXSR,
    ),
    Source(
        name="set14",
        url="https://uofi.box.com/shared/static/igsnfieh4lz68l926l8xbklwsnnk8we9.zip",
        filename="Set14_SR.zip",
        sha256=None,
        md5=None,
        size=None,
        extract_to="benchmark",
        provides="benchmark/Set14",
        provenance=_SELFEXSR,
    ),
    Source(
        name="bsd100",
        url="https://uofi.box.com/shared/static/qgctsplb8txrksm9to9x01zfa4m61ngq.zip",
        filename="BSD100_SR.zip",
        sha256=None,
        md5=None,
        size=None,
        extract_to="benchmark/BSD100",
        provides="benchmark/BSD100",
        provenance=_SELFEXSR,
    ),
]

SOURCES: dict[str, Source] = {source.name: source for source in _ALL}
"""Every known archive by name."""

DIV2K_SCALES = (2, 3, 4)
"""Scales for which DIV2K ships bicubic LR images (track 1)."""


def div2k_sources(split: str, scale: int) -> list[Source]:
    """The archives a DIV2K split needs at one scale: HR, plus the official bicubic LR when it exists.

    Args:
        split: "train" (images 0001-0800) or "valid" (0801-0900).
        scale: SR factor; for scales other than 2, 3, 4 only HR is fetched and LR is made locally.
    """
    if split not in ("train", "valid"):
        raise SISRError(f"Unknown DIV2K split {split!r}; use 'train' or 'valid'.")
    sources = [SOURCES[f"div2k_{split}_hr"]]
    if scale in DIV2K_SCALES:
        sources.append(SOURCES[f"div2k_{split}_lr_bicubic_x{scale}"])
    return sources
