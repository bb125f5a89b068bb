"""Reading any image a user hands `sisr.upscale` and writing the upscaled PNG, keeping what the file was.

* EXIF orientation is applied on reading (`PIL.ImageOps.exif_transpose`), so the output is upright and carries
  no orientation tag;
* gray stays gray (`1`, `L`, `I;16`, ...: one channel); colour is RGB; palette images become RGB (RGBA when the
  palette has transparency); CMYK, YCbCr and other modes go through Pillow's RGB conversion;
* an alpha channel (`RGBA`, `LA`, `PA`, transparent palettes) is kept apart and comes back beside the colour;
* 16-bit PNG files (gray, gray + alpha, RGB, RGBA) are decoded at full depth (`torchvision.io.decode_png`; Pillow
  would cut 16-bit colour to 8 bits) and written back as 16-bit PNG; other 16-bit gray files (TIFF) too.

Samples are float32 in [0, 1]; writing rounds half up to the file's levels, as `sisr.protocol.metrics.to_uint8_range`
does for scoring, so an upscaled 8-bit PNG holds exactly the values `sisr.eval` scores.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from sisr.data.images import UnreadableImageError, too_large_message
from sisr.plumbing.files import atomic_write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_READ_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError, EOFError, RuntimeError)
_SIXTEEN_BIT_GRAY = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
# EXIF orientation (tag 0x0112) -> numpy operation on an (H, W, C) array, the same transforms as exif_transpose.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class Picture:
    """An image as float32 samples in [0, 1].

    Args:
        color: (H, W, 1) gray or (H, W, 3) RGB.
        alpha: (H, W) opacity, or None.
        bit_depth: 8, or 16 for 16-bit sources (written back at 16 bits).
    """

    color: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8

    @property
    def is_gray(self) -> bool:
        """The image has one colour channel."""
        return self.color.shape[2] == 1


def is_png16(path: Path) -> bool:
    """Whether `path` is a PNG file with 16 bits per sample (read from its IHDR chunk)."""
    with open(path, "rb") as handle:
        head = handle.read(25)
    return len(head) == 25 and head[:8] == PNG_SIGNATURE and head[24] == 16


def split_channels(samples: np.ndarray) -> Picture:
    """(H, W, C) float samples with C in 1..4 (gray, gray + alpha, RGB, RGBA) -> Picture."""
    channels = samples.shape[2]
    alpha = samples[:, :, -1].copy() if channels in (2, 4) else None
    color = samples[:, :, :1] if channels in (1, 2) else samples[:, :, :3]
    return Picture(np.ascontiguousarray(color), alpha)


def _read_png16(path: Path) -> Picture:
    from torchvision.io import ImageReadMode, decode_png

    with Image.open(path):  # the header only: Pillow's pixel limit applies before torchvision decodes
        pass

    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points to TorchCodec; it still decodes
        samples = decode_png(data, mode=ImageReadMode.UNCHANGED).permute(1, 2, 0).to(torch.int32).numpy()
    with Image.open(path) as image:
        orientation = image.getexif().get(0x0112, 1)
    samples = _ORIENT.get(orientation, lambda a: a)(samples)
    picture = split_channels(samples.astype(np.float32) / np.float32(65535))
    picture.bit_depth = 16
    return picture


def from_pil(image: Image.Image) -> Picture:
    """Any Pillow mode -> Picture (gray or RGB, alpha apart)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_GRAY:
        gray = np.clip(np.asarray(image, dtype=np.float32), 0, 65535) / np.float32(65535)
        return Picture(gray[:, :, None], None, 16)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("1", "F"):
        image = image.convert("L")
    elif mode in ("La", "PA"):
        image = image.convert("LA" if mode == "La" else "RGBA")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...
    samples = np.asarray(image, dtype=np.float32) / np.float32(255)
    return split_channels(samples if samples.ndim == 3 else samples[:, :, None])


def read_picture(path: str | Path) -> Picture:
    """Read an image file of any kind, upright, as float samples in [0, 1].

    Raises:
        UnreadableImageError: the file is missing, corrupt, truncated or not an image (one sentence naming it).
    """
    path = Path(path)
    try:
        if is_png16(path):
            return _read_png16(path)
        with Image.open(path) as image:
            image.load()  # decode now: truncated data raises here
            return from_pil(ImageOps.exif_transpose(image))
    except FileNotFoundError as err:
        raise UnreadableImageError(path, f"image {path} does not exist.") from err
    except Image.DecompressionBombError as err:
        raise UnreadableImageError(path, too_large_message(path, err)) from err
    except _READ_ERRORS as err:
        message = f"cannot read image {path} ({err}); it is corrupt, truncated or no image."
        raise UnreadableImageError(path, message) from err


QUANTISE_ROWS = 256  # rows per block: the float64 arithmetic never holds more than this many rows at once


def quantise(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """[0, 1] samples -> uint8 or uint16 levels, rounding half up and saturating (as `to_uint8_range`), in float64
    blocks of `QUANTISE_ROWS` rows so that a large image needs no full-size float64 copies."""
    peak = 255.0 if bit_depth == 8 else 65535.0
    levels = np.empty(samples.shape, np.uint8 if bit_depth == 8 else np.uint16)
    for start in range(0, samples.shape[0], QUANTISE_ROWS):
        block = samples[start : start + QUANTISE_ROWS].astype(np.float64) * peak
        levels[start : start + QUANTISE_ROWS] = np.floor(np.clip(block, 0.0, peak, out=block) + 0.5)
    return levels


def _png16_bytes(levels: np.ndarray) -> bytes:
    """A 16-bit PNG of (H, W, C) uint16 levels, C in 1..4 (Pillow cannot write 16-bit colour)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    height, width, channels = levels.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = np.ascontiguousarray(levels.astype(">u2")).view(np.uint8).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    data = zlib.compress(raw.tobytes(), 6)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def write_png(path: str | Path, picture: Picture) -> None:
    """Write `picture` as a PNG of its bit depth (alpha appended as the last channel), atomically."""
    levels = quantise(picture.color, picture.bit_depth)
    if picture.alpha is not None:  # appended as levels, not as float samples: no full-size float copy
        levels = np.concatenate([levels, quantise(picture.alpha[:, :, None], picture.bit_depth)], 2)
    with atomic_write(path) as handle:
        if picture.bit_depth == 16:
            handle.write(_png16_bytes(levels))
        else:
            Image.fromarray(levels[:, :, 0] if levels.shape[2] == 1 else levels).save(handle, format="PNG")
