"""The command line the examples share: ``--out DIR``, ``--fast``, a timing line.

Each example keeps its own ``run(fast, out) -> dict`` (what the tests call) and
hands it to :func:`main` here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(
    run, doc: str, default_out: Path, argv: list[str] | None = None, report=None
) -> dict:
    """Parse the arguments, call ``run``, hand its result to ``report`` (which
    prints the example's findings), and say which files it wrote, how fast."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=default_out, help="folder for the pictures"
    )
    parser.add_argument(
        "--fast", action="store_true", help="smaller settings, as the tests use"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(fast=args.fast, out=args.out)
    if report is not None:
        report(result)
    wrote = [str(result[k]) for k in ("figure", "dot") if k in result]
    wrote += [str(path) for path in result.get("figures", [])]
    print(f"wrote {' and '.join(wrote)} in {time.perf_counter() - start:.1f} s")
    return result
