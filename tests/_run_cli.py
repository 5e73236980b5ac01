"""Running chainrule from a test as a user would: the command line in-process
(``run_cli``) or in a fresh interpreter (``cli``), and Python code in a fresh
interpreter that imports this checkout (``run_python``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from chainrule.cli import main

REPO = Path(__file__).resolve().parents[1]
#: A child process's environment: this checkout first on the path, and one
#: BLAS thread (the tests run side by side with other work).
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}


def run_cli(tmp_path, monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """``chainrule ARGS`` in ``tmp_path``: (exit status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    try:
        code = main(list(map(str, args)))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args, cwd=None, env=None, timeout=120) -> subprocess.CompletedProcess:
    """``python -m chainrule ARGS`` in a fresh interpreter (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "chainrule", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or ENV,
        timeout=timeout,
    )


def run_python(code: str, cwd=REPO, timeout=120) -> subprocess.CompletedProcess:
    """``code`` (dedented) in a fresh interpreter that imports this checkout."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=timeout,
    )
