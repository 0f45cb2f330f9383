"""Process-level tuning for the long-running commands (nightly run, server)."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(threshold: int = 256 << 20) -> str | None:
    """Let glibc keep freed blocks up to `threshold` instead of returning them to the kernel at once.

    NumPy's temporaries in trip cutting are a few hundred kB each; with glibc's default, adaptive
    thresholds each one costs fresh page faults — about a third of the drift filter's time. Returns None
    when done, else why not (not glibc, or refused)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = (
            libc.mallopt(_M_TRIM_THRESHOLD, threshold) == 1
            and libc.mallopt(_M_MMAP_THRESHOLD, threshold) == 1
        )
    except (OSError, AttributeError) as exc:
        return str(exc)
    return None if ok else "mallopt refused"


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: code that makes many short-lived objects without cycles (a
    shapely point per fix) in a process holding a large heap (a night's rows) otherwise pays for full
    collections that walk that heap. Reference counting still frees everything at once."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
