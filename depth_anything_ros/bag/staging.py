"""All-or-nothing outputs: build a folder in a hidden temporary place beside its final path,
move it there only when everything succeeded.

A crash, an exception or Ctrl-C therefore leaves nothing at the final path (only, at worst after
SIGKILL, a hidden `.NAME.*.partial` folder beside it). Renames within one folder are atomic.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Callable

from depth_anything_ros.bag.errors import BagError

log = logging.getLogger(__name__)


class StagedOutput:
    """A not-yet-existing `path` to build an output in; `commit()` moves it to `final`.

    Used as a context manager: leaving the block with an exception discards the staged output;
    leaving it normally without `commit()` also discards it.
    """

    def __init__(self, final: Path, *, overwrite: bool = False, what: str = "output",
                 replaceable: Callable[[Path], str | None] | None = None) -> None:
        self.final = Path(os.path.abspath(final))  # "." has no name to stage beside
        self.overwrite = overwrite
        self.what = what
        check_output_path(self.final, overwrite=overwrite, what=what, replaceable=replaceable)
        leftovers = sorted(self.final.parent.glob(f".{glob.escape(self.final.name)}.*.partial"))
        if leftovers:  # a run killed outright (SIGKILL, power loss) cannot clean up after itself
            log.warning("%s %s: %d staging folder(s) of an interrupted earlier run lie beside it "
                        "(%s); nothing reads them: delete them to free the space", what,
                        self.final, len(leftovers), ", ".join(p.name for p in leftovers[:3]))
        self._tmpdir = Path(
            tempfile.mkdtemp(prefix=f".{self.final.name}.", suffix=".partial", dir=self.final.parent)
        )
        self.path = self._tmpdir / self.final.name
        self.committed = False

    def commit(self) -> None:
        """Move the staged output to the final path (replacing it only with `overwrite`)."""
        if not self.path.exists():
            raise BagError(f"{self.what} {self.final}: nothing was staged at {self.path}")
        if self.final.exists() or self.final.is_symlink():
            if not self.overwrite:
                raise BagError(f"{self.what} {self.final} appeared while writing; not overwriting it")
            old = self._tmpdir / f"{self.final.name}.old"
            os.replace(self.final, old)
        os.replace(self.path, self.final)
        self.committed = True
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> "StagedOutput":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


def check_output_path(final: Path, *, overwrite: bool, what: str = "output",
                      replaceable: Callable[[Path], str | None] | None = None) -> None:
    """Refuse an existing output without `overwrite`, and a missing parent folder. With
    `overwrite`, still refuse the current folder (or one holding it) and an existing path that
    `replaceable` says is not an earlier output of this kind (it returns why), so --overwrite
    never deletes a folder of other things."""
    final = Path(os.path.abspath(final))
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise BagError(f"{what} {final} already exists (pass --overwrite to replace it)")
        cwd = Path.cwd()
        if final == cwd or final in cwd.parents:
            raise BagError(f"{what} {final} is the current folder or holds it; --overwrite would "
                           "replace it: choose another path")
        problem = None if replaceable is None else replaceable(final)
        if problem is not None:
            raise BagError(f"{what} {final} exists and {problem}; --overwrite replaces only an "
                           "earlier output: remove it yourself or choose another path")
    if not final.parent.is_dir():
        state = "is not a folder" if final.parent.exists() else "does not exist"
        raise BagError(f"{what} {final}: {final.parent} {state}")


def check_not_inside(output: Path, protected: Path, *, what: str, protected_what: str) -> None:
    """Refuse an output equal to, inside, or containing a path that must stay untouched."""
    out = output.resolve()
    keep = protected.resolve()
    if out == keep or keep in out.parents or out in keep.parents:
        raise BagError(f"{what} {output} overlaps the {protected_what} {protected}; choose another path")
