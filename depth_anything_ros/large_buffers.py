"""Keep multi-megabyte message buffers in the heap instead of fresh mmap()s (glibc only).

Every published 640×480 cloud is serialised into a ~4.9 MB buffer and freed again. glibc serves
allocations above its mmap threshold with a fresh mmap, returns them with munmap, and shrinks the
heap on frees above its trim threshold, so each cloud cost 3,570 page faults: rclpy's
`serialize_message` of it took 10.1 ms. With both thresholds raised for the process it takes
0.77 ms and 0.5 faults (the project's 2-core machine; a 1.2 MB depth image: 0.17 ms either way),
at the price of keeping a few such buffers resident (the soak's RSS shows it). Torch's
own multi-megabyte tensors gain too: the shipped model's predict on a 640×480 frame took 11 %
less CPU (bench/node_throughput.py's bare side, 68.9 → 61.9 ms). `depth_node` and the CLI call it
at start; the library itself leaves the process's allocator alone. Python subscribers
of large clouds can do the same with
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456`` in their environment.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (4 · 1 MiB · sizeof(long))
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def keep_large_buffers() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where that is not glibc
    (macOS, musl) or the call was refused, and nothing changes."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
