"""The bag job's writer thread: heavy items (frames) are bounded, light ones (copied messages)
never hold the producer back, and the writer's errors surface in the producer."""
import threading
import time

import pytest
from rosbags.rosbag2 import Writer
from thread_helpers import WatchedSemaphore, wait_until

from depth_anything_ros.bag.writer_thread import WriterThread


def bag_writer(path):
    """A real rosbags writer, as the bag job opens one."""
    def open_writer() -> Writer:
        writer = Writer(path, version=8)
        writer.open()
        return writer
    return open_writer


def test_at_most_max_heavy_frames_wait_however_many_copied_messages_passed(tmp_path):
    """A long bag's memory is bounded by max_heavy frames in flight: copied (light) messages
    must not free frame slots, or frames pile up while the writer is slow."""
    gate = threading.Event()  # holds the writer on frames (a slow disk)
    in_frame = threading.Event()  # the writer is writing a frame (held at the gate)
    written = []

    def consume(writer, item) -> None:
        if item.startswith("frame"):
            in_frame.set()
            gate.wait(10)
        written.append(item)

    job = WriterThread(bag_writer(tmp_path / "out"), consume, max_heavy=1)
    slots = job._heavy_slots = WatchedSemaphore(job._heavy_slots)  # its own count, watched
    job.start()
    for i in range(3):
        job.put(f"copied {i}")
    wait_until(lambda: len(written) >= 3, "the writer did not write the copied messages")
    job.put("frame 0", heavy=True)  # takes the one slot, held in the writer
    assert in_frame.wait(20), "the writer never took frame 0"
    second = threading.Thread(target=job.put, args=("frame 1",), kwargs={"heavy": True})
    second.start()
    # until the second frame was refused a slot at least once, or got one (the bug)
    wait_until(lambda: slots.refusals > 0 or not second.is_alive(),
               "the second frame neither got nor was refused a slot")
    assert second.is_alive(), "a second frame got a slot while the first is still written"
    assert written == ["copied 0", "copied 1", "copied 2"]  # frame 0 is held in the writer
    gate.set()
    second.join(5)
    job.finish()
    assert written == ["copied 0", "copied 1", "copied 2", "frame 0", "frame 1"]
    assert (tmp_path / "out" / "metadata.yaml").is_file()  # closed: a finished bag


def test_an_error_in_the_writer_surfaces_in_the_producer(tmp_path):
    def consume(writer, item) -> None:
        raise OSError("disk full")

    job = WriterThread(bag_writer(tmp_path / "out"), consume, max_heavy=2).start()
    job.put("frame", heavy=True)
    with pytest.raises(OSError, match="disk full"):
        for _ in range(100):
            job.put("next", heavy=True)
            time.sleep(0.01)
    job.cancel()
