"""sisr: a PyTorch Lightning + Hydra benchmark suite for single-image super-resolution."""

from sisr.paths import register_resolver

register_resolver()
