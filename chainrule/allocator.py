"""The process's memory allocator: keep freed memory for the next step.

A training step allocates the same large temporaries every time: columns,
layer outputs, gradients, each a few megabytes. glibc's malloc hands out
blocks above its mmap threshold (128 KiB, raised as large blocks are freed)
as fresh pages from the operating system and gives them back on free, and it
trims the top of its heap once more than its trim threshold lies free there.
Every fresh page costs a page fault when first written, and on a virtual
machine a fault costs a few microseconds: the two-conv CNN took 290 to 530
faults a step at batch 64, 1.4 to 3.0 ms of system time in a step of 12 to
15 ms, and 10 to 24 faults with the setting below (``benchmarks/README.md``,
round 6).

:func:`keep_freed_memory` raises both thresholds, so that freed blocks stay
in the process and the next step reuses them warm. It changes malloc for the
whole process, every library in it included, so chainrule never calls it on
import or in :func:`chainrule.fit`: the command line does (it owns its
process), and a program of your own may, once, at its start::

    import chainrule as cr
    cr.allocator.keep_freed_memory()

The same settings can be given without code, through glibc's environment:
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456``.
"""

from __future__ import annotations

#: glibc's mallopt parameters (malloc.h), and the largest value it takes.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_INT_MAX = 2**31 - 1

#: The largest mmap threshold glibc accepts on 64-bit machines (half its
#: heap size): blocks larger than this are always mapped afresh.
MMAP_THRESHOLD_MAX = 32 * 2**20


def keep_freed_memory(trim_threshold: int = 256 * 2**20) -> bool:
    """Have glibc keep freed blocks of up to 32 MiB in the heap, and up to
    ``trim_threshold`` bytes of free memory at its top, instead of handing
    them back to the operating system.

    The process then keeps the memory its largest step needed (plus at most
    ``trim_threshold`` bytes free) until it exits. Returns True when the
    settings took effect, False where the C library is not glibc (macOS,
    Windows, musl), where this does nothing.
    """
    if not 0 <= int(trim_threshold) <= _INT_MAX:
        raise ValueError(
            f"keep_freed_memory: trim_threshold must be a number of bytes from 0 "
            f"to {_INT_MAX:,} (mallopt takes a C int); got {trim_threshold}."
        )
    libc = _glibc()
    if libc is None:
        return False
    # mallopt returns 1 on success. Setting either threshold also turns off
    # glibc's own adaptive raising of them, so both are set.
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
        and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )


def _glibc():
    """The running C library when it is glibc (it has ``mallopt`` and
    ``gnu_get_libc_version``), else None."""
    import ctypes  # here, not at import: most programs never call this

    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's among them
    except (OSError, TypeError):  # TypeError: Windows wants a library's name
        return None
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc
