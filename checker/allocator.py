"""Allocator tuning: keep freed memory in the process instead of returning it to the system at once.

numpy and torch allocate and free large temporaries in loops (the brute-force float path, training); glibc
returns each freed block above its thresholds to the kernel and maps it again on the next allocation, and the
page faults of that cycle cost more than the arithmetic (measured: a Max-of-4/64 brute-force check took 15 s of user
and 33 s of system time; with this tuning, 8.5 s and 0.1 s: benchmarks/bench_allocator.py). Peak memory is
unchanged; only its release to the system is deferred. A no-op where glibc's mallopt is not available."""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its adaptive threshold: blocks below it come from the heap
TRIM_THRESHOLD = 1 << 30  # free heap kept before returning any to the system


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); True when they were set."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
