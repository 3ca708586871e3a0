"""One deliberate bug: an exact search → replace on one file, and the tests that must catch it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository root
    old: str   # must occur exactly once in `file`
    new: str
    tests: tuple[str, ...]  # pytest node ids or files expected to catch it
    select: str = ""        # optional pytest -k expression to keep the run short
