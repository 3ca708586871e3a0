"""Errors of bag jobs: each message names the bag, topic or message and the reason."""
from __future__ import annotations


class BagError(Exception):
    """A bag job cannot run or cannot finish; nothing was written to the output path."""


class BagTopicError(BagError):
    """A requested topic is missing or has the wrong type; the message lists what the bag has."""


class BagFrameError(BagError):
    """A frame could not be decoded or converted (raised only in strict mode; otherwise skipped)."""


class BagNoDepthError(BagError):
    """No frame of the bag produced depth; nothing was written. `summary` says why (its
    `problem_lines()` give one line per distinct reason)."""

    def __init__(self, message: str, summary: "BagSummary") -> None:  # noqa: F821
        super().__init__(message)
        self.summary = summary
