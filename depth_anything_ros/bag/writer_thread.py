"""The bag writer in a thread of its own, fed in order through a queue.

Writing (sqlite inserts, MCAP chunks) then overlaps with inference instead of stalling it.
Everything that touches the rosbags `Writer` happens in this one thread (Python's sqlite3
connections refuse to be used from another), from opening it to closing or aborting it.
At most `max_heavy` heavy items (frames) are queued or being written at once — that bounds
memory — while light items (copied messages) never hold the producer back.
An exception in the thread (including one raised by `consume`) is re-raised in the producer's
next `put` or in `finish`, so failures surface where the job runs.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

_END = object()
_CANCEL = object()


class WriterThread:
    """`open_writer()` → writer; `consume(writer, item)` per item; close on `finish`, abort on
    `cancel` or any error."""

    def __init__(self, open_writer: Callable[[], Any], consume: Callable[[Any, Any], None],
                 max_heavy: int) -> None:
        self._open_writer = open_writer
        self._consume = consume
        self._queue: queue.SimpleQueue[tuple[Any, bool]] = queue.SimpleQueue()
        self._heavy_slots = threading.Semaphore(max(1, max_heavy))
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)

    def start(self) -> "WriterThread":
        self._thread.start()
        return self

    def put(self, item: Any, heavy: bool = False) -> None:
        """Queue an item (a heavy one waits for a free slot); raises the writer's error if any."""
        self._raise_error()
        if heavy:
            while not self._heavy_slots.acquire(timeout=0.05):
                self._raise_error()
        self._queue.put((item, heavy))

    def finish(self) -> None:
        """Close the bag after the queued items; raises the writer's error if any."""
        self.put(_END)
        self._thread.join()
        self._raise_error()

    def cancel(self) -> None:
        """Drop queued items, abort the bag and wait for the thread (on the failure path)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put((_CANCEL, False))
        self._thread.join()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        writer = None
        try:
            writer = self._open_writer()
            while True:
                item, heavy = self._queue.get()
                if item is _CANCEL:
                    break
                if item is _END:
                    writer.close()
                    return
                self._consume(writer, item)
                if heavy:
                    self._heavy_slots.release()
        except BaseException as exc:  # noqa: BLE001 - handed to the producer thread
            self.error = exc
        if writer is not None:
            writer.abort()
