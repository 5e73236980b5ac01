"""The hypothesis settings of the fuzz tests (test_fuzz_model_files.py,
test_fuzz_data_files.py). Import it after ``importorskip("hypothesis")``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: ``CHAINRULE_FUZZ_SCALE=20`` multiplies every fuzz test's examples by 20,
#: for a longer hunt than CI's.
SCALE = max(1, int(os.environ.get("CHAINRULE_FUZZ_SCALE", "1")))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=True,  # the same files on every run: a failure reproduces
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,  # a file rewritten per example
        ],
    )
