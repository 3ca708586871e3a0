"""`signal_stack_kept`: a thread's alternate signal stack survives a library replacing it (the
OpenVINO case itself is in test_inference_backends.py)."""
import ctypes
import sys
import threading

import pytest

from depth_anything_ros.inference.signal_stack import (SS_DISABLE, current_signal_stack,
                                                       signal_stack_kept)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="sigaltstack is read through Linux's stack_t")


class StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


LIBC = ctypes.CDLL(None, use_errno=True)
FOREIGN = ctypes.create_string_buffer(1 << 16)  # lives as long as the module: never unmapped


def replace_signal_stack() -> None:
    """What the library does: a stack of its own on the calling thread."""
    stack = StackT(ctypes.addressof(FOREIGN), 0, len(FOREIGN))
    assert LIBC.sigaltstack(ctypes.byref(stack), None) == 0, ctypes.get_errno()


def on_new_thread(work):
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=work()))
    thread.start()
    thread.join()
    return result["value"]


def test_the_main_threads_signal_stack_is_given_back():
    before = current_signal_stack()
    with signal_stack_kept():
        replace_signal_stack()
        assert current_signal_stack()[0] == ctypes.addressof(FOREIGN)
    assert current_signal_stack() == before


def test_a_thread_without_a_signal_stack_is_left_without_one():
    def work():
        before = current_signal_stack()
        with signal_stack_kept():
            replace_signal_stack()
        return before, current_signal_stack()

    before, after = on_new_thread(work)
    assert before[1] & SS_DISABLE  # a new thread has none
    assert after == before


def test_the_stack_is_given_back_when_the_call_raises():
    before = current_signal_stack()
    with pytest.raises(RuntimeError), signal_stack_kept():
        replace_signal_stack()
        raise RuntimeError("compile failed")
    assert current_signal_stack() == before
