"""Errors of bag jobs: each message names the bag, topic or message and the reason."""
from __future__ import annotations


class BagError(Exception):
    """A bag job cannot run or cannot finish; nothing was written to the output path."""


class BagTopicError(BagError):
    """A requested topic is missing or has the wrong type; the message lists what the bag has."""


class BagFrameError(BagError):
    """A frame could not be decoded or converted (raised only in strict mode; otherwise skipped)."""
