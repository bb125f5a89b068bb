"""Where a performance number was measured: recorded next to every benchmark result."""

from __future__ import annotations

import os
import platform

import numpy as np
import PIL
import torch

from sisr.plumbing.provenance import machine_name


def machine_info() -> dict:
    """The machine, library versions, threads and load at the time of measuring."""
    return {
        "machine": machine_name(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "load_average_1m": os.getloadavg()[0],  # other processes on the machine slow both sides of a comparison
    }
