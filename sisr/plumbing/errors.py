"""Errors raised for user mistakes: bad config, missing data, bad images."""


class SISRError(ValueError):
    """A problem the user can fix; its message is one sentence saying what and how."""
