"""Plumbing: paths, atomic files, provenance, one-sentence user errors, the CLI wrapper and Hydra callbacks.
Nothing here knows about models or training."""
