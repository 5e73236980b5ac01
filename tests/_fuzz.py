"""What the fuzz tests share (test_fuzz_model_files.py, test_fuzz_data_files.py):
hypothesis, asked for through ``importorskip`` (a test module importing this
is skipped without it, or fails with CI=true), its settings, and the process's
resident memory, which is what a hostile file must not grow.

Importing ``given`` and ``st`` from here keeps every import of those modules
at the top: no import has to wait for the check.
"""

from __future__ import annotations

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

    A read that allocates too much does not always show it: memory the
    process freed earlier is reused without growing the resident size, and
    fresh pages count only once written. So a failure may not repeat in a
    fresh process (hypothesis then calls it flaky); it is real all the same
    (in a 40x hunt: damaged pictures whose headers declared millions of
    pixels in a 246-byte file, which Pillow allocated before finding the
    file short).
    """
    if not peak_rss_reset():  # where it can, the peak is now the present size
        return read()
    start = rss_kib()[1]
    try:
        result, error = read(), None
    except Exception as exc:
        result, error = None, exc
    grown = (rss_kib()[0] - start) * 1024
    assert grown < limit, f"{what} grew the resident memory by {grown:,} bytes"
    if error is not None:
        raise error
    return result
