"""chainrule.allocator: the command line's process keeps freed memory, so a
training step's temporaries come back without page faults; importing
chainrule changes nothing. Each check runs in a fresh process, because the
setting is process-wide."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

import chainrule as cr

# Three 8 MB temporaries alive at once, freed, twenty times: what a step's
# columns and outputs do. Prints the page faults of the last ten rounds.
ROUNDS = """
import resource, sys
import numpy as np
import chainrule as cr
if sys.argv[1] == "keep":
    assert cr.allocator.keep_freed_memory()

def round_():
    a = np.ones(2**21, np.float32); b = a * 2; c = a + b
    return float(c[-1])

for _ in range(10):
    round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


# Decided apart from the module's own detection, so that a detection that
# failed on glibc would fail these tests instead of skipping them. (CI runs
# Debian's glibc: they run there.)
glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)


@glibc_only
def test_kept_memory_comes_back_without_page_faults():
    # 10 rounds of 3 x 8 MB are 60,000 pages if each came fresh; kept, none
    # should (a handful of faults from elsewhere in the process is allowed).
    assert _faults("keep") < 200


@glibc_only
def test_the_program_keeps_freed_memory_and_main_does_not(tmp_path):
    """run() (the ``chainrule`` program) sets it; main(), which programs and
    tests call in their own process, leaves malloc alone."""
    probe = (
        "import sys, chainrule.allocator as a\n"
        "calls = []\n"
        "a_keep = a.keep_freed_memory\n"
        "import chainrule.cli as cli\n"
        "cli.keep_freed_memory = lambda: calls.append(1) or a_keep()\n"
        "sys.argv = ['chainrule', '--version']\n"
        "try:\n    cli.{entry}()\nexcept SystemExit:\n    pass\n"
        "print(len(calls))\n"
    )
    for entry, expected in (("run", "1"), ("main", "0")):
        out = subprocess.run(
            [sys.executable, "-c", probe.format(entry=entry)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert out.stdout.strip().splitlines()[-1] == expected, (entry, out.stdout)


@pytest.mark.parametrize("bad", [-1, 2**31])
def test_a_threshold_mallopt_cannot_take_is_refused(bad):
    with pytest.raises(ValueError, match="trim_threshold must be a number of bytes"):
        cr.allocator.keep_freed_memory(bad)


def test_without_glibc_it_does_nothing_and_says_so(monkeypatch):
    """macOS, Windows, musl: no mallopt to call; False, and no error."""
    monkeypatch.setattr(cr.allocator, "_glibc", lambda: None)
    assert cr.allocator.keep_freed_memory() is False
