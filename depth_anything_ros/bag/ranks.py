"""Who runs which bags: one process, or the ranks `torchrun` started.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and a rendezvous (MASTER_ADDR/MASTER_PORT) in each
worker's environment, on one machine or many. The ranks then talk through torch.distributed
with the **gloo** backend, chosen over files in a shared folder because:

- it ships with every torch build, needs no GPU and uses the rendezvous torchrun already made,
  so several machines need no shared *writable* folder for bookkeeping;
- a message has no stale copy from an earlier run to mistake for this run's, and no polling;
- a rank that dies takes the group down (torchrun stops the others), instead of leaving rank 0
  waiting for a file that never comes.

Four exchanges, all small: rank 0's plan goes to everyone (`share`); a heartbeat thread sums
every rank's counters twice a second on a group of its own (`start_progress`: rank 0's
progress bar, the `--strict` stop signal, and the point where all ranks know all are done);
then the per-bag records go to rank 0 (`gather`), which writes the summary.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.5


@dataclass
class Counters:
    """This rank's progress, written by its main thread, read by its heartbeat thread."""

    bags_done: int = 0  # finished, whatever the outcome
    frames_done: int = 0  # frames of finished bags + frames written of the current one
    failed: int = 0
    finished: bool = False  # this rank has no more bags to run
    stop: bool = False  # `--strict`: this rank had a failure, every rank should stop

    def as_list(self) -> list[float]:
        return [self.bags_done, self.frames_done, self.failed, self.finished, self.stop]


@dataclass(frozen=True)
class Totals:
    """Counters summed over all ranks (`finished`/`stop`: how many ranks)."""

    bags_done: int
    frames_done: int
    failed: int
    finished: int
    stop: int


def under_torchrun() -> bool:
    """True in a process torchrun started (it sets RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def rank_device(device: str, local_rank: int, gpus: int | None = None) -> str:
    """This rank's device: `cuda` (or `auto` with CUDA present) → `cuda:LOCAL_RANK % gpus`, so
    one rank per GPU, or several per GPU when more ranks are started than there are GPUs (one
    rank's bag writing then overlaps another's inference). Any other device string is kept."""
    if device not in ("cuda", "auto"):
        return device
    import torch

    gpus = torch.cuda.device_count() if gpus is None else gpus
    if device == "auto" and gpus == 0:
        return "cpu"
    return f"cuda:{local_rank % gpus}" if gpus else f"cuda:{local_rank}"


class Ranks:
    """One process running every bag; `TorchrunRanks` is the same interface across ranks."""

    rank = 0
    world_size = 1
    local_rank = 0

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._totals: Totals | None = None
        self.stop_requested = False
        self.error: BaseException | None = None
        self._finished = threading.Event()  # wakes the heartbeat at once when this rank is done

    def share(self, obj: Any) -> Any:
        """Rank 0's `obj`, on every rank."""
        return obj

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's `obj`, by rank, on rank 0 (None elsewhere)."""
        return [obj]

    def start_progress(self, counters: Counters, on_totals: Callable[[Totals], None]) -> None:
        """Call `on_totals` with the summed counters every HEARTBEAT_S from a thread, until
        every rank has set `counters.finished`; `stop_requested` turns true once any rank
        set `counters.stop`."""
        self._thread = threading.Thread(target=self._beat, args=(counters, on_totals),
                                        name="bags-heartbeat", daemon=True)
        self._thread.start()

    def finish_progress(self, counters: Counters) -> Totals:
        """Mark this rank finished; wait until all are; the final totals."""
        counters.finished = True
        self._finished.set()
        assert self._thread is not None
        self._thread.join()
        if self.error is not None or self._totals is None:
            raise RuntimeError(f"the ranks lost contact: {self.error}")
        return self._totals

    def close(self) -> None:
        pass

    def _sum(self, values: list[float]) -> list[float]:
        return values

    def _beat(self, counters: Counters, on_totals: Callable[[Totals], None]) -> None:
        while True:
            try:
                totals = Totals(*(int(v) for v in self._sum(counters.as_list())))
            except Exception as exc:  # noqa: BLE001 - a peer died: this rank stops too
                log.error("lost contact with the other ranks: %s", exc)
                self.error = exc
                self.stop_requested = True
                return
            self._totals = totals
            if totals.stop:
                self.stop_requested = True
            on_totals(totals)
            if totals.finished == self.world_size:
                return
            self._finished.wait(HEARTBEAT_S)


class TorchrunRanks(Ranks):
    """The ranks of a torchrun job, joined in a gloo process group."""

    def __init__(self) -> None:
        import torch.distributed as dist

        super().__init__()
        dist.init_process_group(backend="gloo")
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        # the heartbeat runs in its own thread, so it gets its own group: collectives of one
        # group must be issued in the same order on every rank
        self._heartbeat_group = dist.new_group(backend="gloo")

    def share(self, obj: Any) -> Any:
        import torch.distributed as dist

        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any] | None:
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world_size if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0)
        return out

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def _sum(self, values: list[float]) -> list[float]:
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor, group=self._heartbeat_group)
        return tensor.tolist()


def join_ranks() -> Ranks:
    """The torchrun group when started by torchrun, else a single process."""
    return TorchrunRanks() if under_torchrun() else Ranks()
