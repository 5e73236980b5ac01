"""JSON that every parser reads: a NaN or an infinity becomes null.

Python's ``json`` writes NaN and Infinity as bare words, which JSON does not
have: ``jq``, JavaScript and most other parsers then refuse the whole
document. A score that is undefined (ROC AUC with one class present, R^2 of a
constant target) or a loss that diverged is written as null instead.
"""

from __future__ import annotations

import json
import math


def strict(value):
    """``value`` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def dumps(value, **kwargs) -> str:
    """``json.dumps`` of :func:`strict` ``(value)``."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)
