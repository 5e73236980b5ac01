"""What the fuzz tests share (test_fuzz_model_files.py, test_fuzz_data_files.py):
hypothesis, asked for through ``importorskip`` (a test module importing this
is skipped without it, or fails with CI=true), its settings, and the process's
resident memory, which is what a hostile file must not grow.

Importing ``given`` and ``st`` from here keeps every import of those modules
at the top: no import has to wait for the check.
"""

from __future__ import annotations

import ctypes
import os

from _requires import importorskip

hypothesis = importorskip("hypothesis")
given = hypothesis.given
st = hypothesis.strategies

#: ``CHAINRULE_FUZZ_SCALE=20`` multiplies every fuzz test's examples by 20,
#: for a longer hunt than CI's.
SCALE = max(1, int(os.environ.get("CHAINRULE_FUZZ_SCALE", "1")))


def fuzz(examples: int):
    """hypothesis settings for ``examples`` (times SCALE) files."""
    health = hypothesis.HealthCheck
    return hypothesis.settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=True,  # the same files on every run: a failure reproduces
        database=None,
        suppress_health_check=[
            health.too_slow,
            health.data_too_large,
            health.function_scoped_fixture,  # a file rewritten per example
        ],
    )


def peak_rss_reset() -> bool:
    """Reset the kernel's peak resident size of this process; False where it
    cannot be (not Linux), and then nothing is measured."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_kib() -> tuple[int, int]:
    """(peak, current) resident size of this process in KiB (Linux)."""
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f)
    return int(status["VmHWM"].split()[0]), int(status["VmRSS"].split()[0])


def bounded(read, limit: int, what: str = "a read"):
    """``read()``'s result (or the exception it raised, raised again), with
    the peak resident memory it added held under ``limit`` bytes, where the
    peak can be reset (Linux).

    The resident size can also grow for reasons outside the read: once in a
    40x hunt (12,000 pictures, after 4 minutes of model files) one read that
    allocates nothing of the kind grew it by 27.7 MB, and the same read
    repeated did not (the kernel fills huge pages in the background, among
    others). A read that allocates from its file's content does so every
    time, so a first measure over the limit is taken again once, after the
    memory the process freed is handed back (glibc's ``malloc_trim``; a
    second read could reuse it unseen), and only the second one fails.
    """
    if not peak_rss_reset():
        return read()
    for attempt in (1, 2):
        peak_rss_reset()
        start = rss_kib()[1]
        try:
            result, error = read(), None
        except Exception as exc:
            result, error = None, exc
        grown = (rss_kib()[0] - start) * 1024
        if grown < limit:
            break
        if attempt == 1:
            _hand_back_freed_memory()
    assert grown < limit, f"{what} grew the resident memory by {grown:,} bytes, twice"
    if error is not None:
        raise error
    return result


def _hand_back_freed_memory() -> None:
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # TypeError: Windows wants a library's name
        return
    if hasattr(libc, "malloc_trim"):  # glibc
        libc.malloc_trim(0)
