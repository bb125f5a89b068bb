"""Errors raised for user mistakes: bad config, missing data, bad images."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class SISRError(ValueError):
    """A problem the user can fix; its message is one sentence saying what and how."""


def find_cause(exc: BaseException, kinds: type[E] | tuple[type[E], ...]) -> E | None:
    """The first exception of `kinds` in `exc`'s chain (itself, then its causes and contexts), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
