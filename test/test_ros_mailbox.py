"""The node's one-slot mailbox between the executor and the worker: the newest frame wins."""
import threading

from thread_helpers import WatchedCondition

from depth_anything_ros.ros.mailbox import LatestMailbox


def test_the_worker_takes_the_newest_frame_and_older_untaken_ones_are_counted_dropped():
    mailbox = LatestMailbox()
    assert mailbox.put("a") is False
    assert mailbox.put("b") is True  # "a" was never taken: replaced
    assert mailbox.take(0) == "b"
    assert (mailbox.received, mailbox.dropped) == (2, 1)
    assert mailbox.take(0) is None  # taken frames are gone: no frame is processed twice


def test_close_wakes_a_waiting_worker_for_shutdown():
    mailbox = LatestMailbox()
    watched = mailbox._cond = WatchedCondition()
    result = []
    worker = threading.Thread(target=lambda: result.append(mailbox.take(timeout=30)))
    worker.start()
    # the worker waits (close takes the same lock, so it runs once the worker sleeps in wait)
    assert watched.waiting.wait(20), "the worker never waited for a frame"
    mailbox.close()
    worker.join(5)
    assert not worker.is_alive() and result == [None]
