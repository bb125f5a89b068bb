"""Saying in a few words how two sets of weights differ: the first key that does not fit and how many do not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(size) for size in getattr(value, "shape", value))


def shape_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
    """How the tensors (or shapes) of `found` (a file) differ from `expected` (the model built here), or None.

    Returns a phrase such as "generator.body.0.weight is (32, 1, 9, 9) in the file but (64, 1, 9, 9) here, and 5
    more keys differ": the first key of another shape (else the first missing, else the first extra key), then a
    count, never the whole key list.
    """
    wrong = [key for key in expected if key in found and _shape(expected[key]) != _shape(found[key])]
    missing = [key for key in expected if key not in found]
    extra = [key for key in found if key not in expected]
    total = len(wrong) + len(missing) + len(extra)
    if not total:
        return None
    if wrong:
        key = wrong[0]
        first = f"{key} is {_shape(found[key])} in the file but {_shape(expected[key])} here"
    elif missing:
        first = f"{missing[0]} is missing from the file"
    else:
        first = f"the file holds {extra[0]}, which this model lacks"
    more = total - 1
    return first + (f", and {more} more key{'s differ' if more > 1 else ' differs'}" if more else "")
