"""Running ``chainrule`` in-process from a test, as its command line would."""

from __future__ import annotations

from chainrule.cli import main


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
