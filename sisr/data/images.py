"""Reading image files into uint8 HWC RGB arrays, whatever their mode, and reporting bad files clearly.

Conversions (all give an (H, W, 3) uint8 array):

* grayscale (``1``, ``L``, ``LA``, 16-bit ``I;16*`` / ``I``, float ``F``): the intensity is copied to the three
  channels and ``is_gray`` is True (the SR protocol scores such images on their intensity, e.g. Set14);
* alpha (``RGBA``, ``LA``, ``PA``): the alpha channel is dropped, the colour values are kept as stored (no
  compositing onto a background);
* palette (``P``): expanded to its RGB colours (``is_gray`` False);
* 16 bits per channel (gray or colour): reduced to 8 bits by keeping the high byte (``v >> 8``); Pillow decodes
  16-bit colour PNG/TIFF files that way, and 16-bit gray is converted by the same rule;
* anything else Pillow opens (CMYK, YCbCr, ...): Pillow's RGB conversion.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sisr.plumbing.errors import SISRError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
"""File extensions treated as images when scanning folders."""
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_SIXTEEN_BIT_MAX = 65535
_READ_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError, EOFError)


def pixel_limit() -> int:
    """The most pixels an image sisr reads may have: twice Pillow's `Image.MAX_IMAGE_PIXELS` (178,956,970 by
    default, e.g. 13,377 x 13,377), where Pillow refuses a file as a possible decompression bomb."""
    return 2 * int(Image.MAX_IMAGE_PIXELS or 0) or 2**62


def too_large_message(path: Path, error: Exception) -> str:
    """One sentence for an image over `pixel_limit` (its pixel count read from Pillow's error)."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    count = f"{int(found.group(1)):,} pixels" if found else "more pixels"
    return (
        f"image {path} is too large to read ({count}; the limit is {pixel_limit():,}, Pillow's decompression-bomb "
        "guard); downscale or split it."
    )


class UnreadableImageError(SISRError):
    """An image file that is missing, corrupt, truncated or not an image.

    Args:
        path: the file.
        message: one sentence for the user.
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image.

    Args:
        array: uint8 array (H, W, 3), RGB.
        is_gray: the file stored a single intensity channel.
    """

    array: np.ndarray
    is_gray: bool


def sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    """Reduce 16-bit samples to 8 bits by keeping the high byte (``v >> 8``), the rule Pillow applies to 16-bit
    colour files, so gray and colour 16-bit images are converted alike."""
    return (np.clip(values, 0, _SIXTEEN_BIT_MAX).astype(np.uint32) >> 8).astype(np.uint8)


def _pil_to_rgb(image: Image.Image) -> LoadedImage:
    """Convert a loaded Pillow image of any mode to uint8 RGB."""
    mode = image.mode
    if mode in _GRAY_MODES:
        if mode.startswith("I"):
            gray = sixteen_to_eight(np.asarray(image))
        else:
            gray = np.asarray(image.convert("L"))
        return LoadedImage(np.repeat(gray[:, :, None], 3, axis=2), is_gray=True)
    if mode in ("P", "PA"):
        return LoadedImage(np.asarray(image.convert("RGBA"))[:, :, :3].copy(), is_gray=False)
    if mode in ("RGBA", "RGBa", "RGBX"):
        return LoadedImage(np.asarray(image)[:, :, :3].copy(), is_gray=False)
    return LoadedImage(np.asarray(image.convert("RGB")), is_gray=False)


def load_image(path: str | Path) -> LoadedImage:
    """Read an image file as uint8 (H, W, 3) RGB and say whether it was grayscale.

    Args:
        path: image file.

    Raises:
        UnreadableImageError: (a SISRError) the file is missing, corrupt, truncated or not an image; the message
            names it.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()  # decode now: truncated data raises here, not later
            return _pil_to_rgb(image)
    except FileNotFoundError as err:
        raise UnreadableImageError(path, f"Image {path} does not exist; check the dataset folder.") from err
    except Image.DecompressionBombError as err:
        raise UnreadableImageError(path, too_large_message(path, err)) from err
    except _READ_ERRORS as err:
        raise UnreadableImageError(
            path,
            f"Cannot read image {path} ({err}); the file is corrupt or truncated: replace or delete it."
        ) from err


@dataclass
class BadImageTally:
    """Collects images skipped because they could not be read, and logs one summary for all of them.

    Args:
        context: what was being read (e.g. the dataset folder), used in the summary.
    """

    context: str
    skipped: list[str] = field(default_factory=list)
    total: int = 0

    def skip(self, path: Path, error: Exception) -> None:
        """Record and warn about one unreadable image."""
        self.skipped.append(str(path))
        warnings.warn(f"Skipping unreadable image {path}: {error}", stacklevel=2)

    def log_summary(self) -> None:
        """Log once how many images were skipped (nothing when none was)."""
        if self.skipped:
            log.warning(
                "Skipped %d of %d images in %s that could not be read: %s",
                len(self.skipped), self.total, self.context, ", ".join(self.skipped),
            )
