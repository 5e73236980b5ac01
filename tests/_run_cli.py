"""Running chainrule from a test as a user would: the command line in-process
(``run_cli``) or in a fresh interpreter (``cli``), and Python code in a fresh
interpreter that imports this checkout (``run_python``)."""

from __future__ import annotations

import os
import re
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


def run_main(capsys, *args) -> tuple[int, str, str]:
    """``chainrule ARGS`` in this process, from where the test runs:
    (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, match: str, *args) -> str:
    """``chainrule ARGS`` fails as the command line must: status 2, one line on
    stderr, no traceback, the line matching ``match``; returns the line."""
    code, _, err = run_main(capsys, *args)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.search(match, lines[0]), lines[0]
    return lines[0]
