"""Keep a thread's alternate signal stack across a call into a library that replaces it.

OpenVINO's CPU plugin (2026.4.1) gives the thread that compiles a model a signal stack of its
own (``sigaltstack``) and unmaps it when the compiled model is freed, restoring the thread's
previous stack only if the model is freed on that same thread. Freed on any other thread (the
garbage collector, a node's worker), it leaves the compiling thread's signal stack on unmapped
memory, and the next Python signal handler run there (SIGINT, SIGTERM, SIGCHLD: CPython installs
them with SA_ONSTACK) kills the process with SIGSEGV (si_code SI_KERNEL) before faulthandler can
print a line. CI's pytest process died this way at random, long after the OpenVINO tests.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
from collections.abc import Iterator

log = logging.getLogger(__name__)

SS_DISABLE = 2  # <signal.h> on Linux: no alternate stack


class _Stack(ctypes.Structure):
    """``stack_t`` of <signal.h> on Linux."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None  # the library's signal stack is Linux-only; nothing to keep elsewhere
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.sigaltstack.argtypes = [ctypes.POINTER(_Stack), ctypes.POINTER(_Stack)]
        return libc
    except (OSError, AttributeError):  # pragma: no cover - a libc without sigaltstack
        return None


_LIBC = _load_libc()
_warned = False


def current_signal_stack() -> tuple[int, int, int] | None:
    """(address, flags, size) of the calling thread's alternate signal stack; None off Linux."""
    if _LIBC is None:
        return None
    stack = _Stack()
    if _LIBC.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return stack.ss_sp or 0, stack.ss_flags, stack.ss_size


def _install(address: int, flags: int, size: int) -> int:
    """errno of setting the calling thread's signal stack (0 when it worked)."""
    disabled = bool(flags & SS_DISABLE)
    stack = _Stack(None if disabled else address, SS_DISABLE if disabled else 0,
                   0 if disabled else size)
    return 0 if _LIBC.sigaltstack(ctypes.byref(stack), None) == 0 else ctypes.get_errno()


@contextlib.contextmanager
def signal_stack_kept() -> Iterator[None]:
    """Run the block, then give the calling thread back the signal stack it had before."""
    global _warned
    before = current_signal_stack()
    try:
        yield
    finally:
        after = current_signal_stack()
        if before is not None and after is not None and after != before:
            error = _install(*before)
            if error and not _warned:  # e.g. ENOMEM: a CPU with AMX needs a larger stack
                _warned = True
                log.warning("could not restore this thread's signal stack after OpenVINO "
                            "replaced it (errno %d): free the model on the thread that ran it",
                            error)
