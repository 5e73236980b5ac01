"""Run folders of ``chainrule train``: one run per folder, Ctrl-C and divergence.

In process (``main``) with a one-layer model on the embedded digits, so each
run takes a fraction of a second; one real SIGINT in a subprocess at the end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _run_cli import run_cli

import chainrule as cr
from chainrule.cli import _runs, main
from chainrule.cli._common import CLIError
from chainrule.cli._runs import RunDir, plan_run_dir
from chainrule.io import read_checkpoint
from chainrule.training import Trainer

REPO = Path(__file__).resolve().parents[1]
FAST = ["--model", "flatten-linear10", "--epochs", "1", "--batch-size", "256"]


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch):
    # The pictures take seconds each and are not what these tests are about.
    monkeypatch.setattr("chainrule.cli.report._write_plots", lambda *a, **k: [])


def train(tmp_path, monkeypatch, capsys, *args) -> tuple[int, str, str]:
    return run_cli(tmp_path, monkeypatch, capsys, "train", *FAST, *args)


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def owner(folder: Path) -> str:
    return json.loads((folder / "run.json").read_text())["run"]


# ------------------------------------------------ one run per folder (bug 2)
def test_runs_started_in_the_same_second_get_their_own_folders(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(_runs.time, "strftime", lambda fmt: "20260101-120000")
    for _ in range(3):
        code, _, err = train(tmp_path, monkeypatch, capsys)
        assert code == 0, err
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders == ["20260101-120000", "20260101-120000-2", "20260101-120000-3"]
    ids = {owner(tmp_path / "runs" / f) for f in folders}
    assert len(ids) == 3
    for f in folders:
        model = cr.load(tmp_path / "runs" / f / "model.npz")
        assert model.metadata["run"] == owner(tmp_path / "runs" / f)


def test_an_out_holding_another_run_needs_force(tmp_path, monkeypatch, capsys):
    code, _, err = train(tmp_path, monkeypatch, capsys, "--out", "run", "--seed", "1")
    assert code == 0, err
    first = (tmp_path / "run" / "model.npz").read_bytes()
    code, out, err = train(tmp_path, monkeypatch, capsys, "--out", "run", "--seed", "2")
    assert code == 2
    assert one_line(err) == (
        f"chainrule train: error: 'run' holds another run (run {owner(tmp_path / 'run')}); "
        "choose another --out, or pass --force to replace it."
    )
    assert out == ""  # refused before loading the data
    assert (tmp_path / "run" / "model.npz").read_bytes() == first
    code, _, err = train(
        tmp_path, monkeypatch, capsys, "--out", "run", "--seed", "2", "--force"
    )
    assert code == 0, err
    model = cr.load(tmp_path / "run" / "model.npz")
    assert model.metadata["train_args"]["seed"] == 2
    assert model.metadata["run"] == owner(tmp_path / "run")


def test_a_folder_from_before_run_ids_is_another_run(tmp_path, monkeypatch, capsys):
    code, _, err = train(tmp_path, monkeypatch, capsys, "--out", "old")
    assert code == 0, err
    (tmp_path / "old" / "run.json").unlink()
    code, _, err = train(tmp_path, monkeypatch, capsys, "--out", "old")
    assert code == 2
    assert "'old' holds another run (an earlier run)" in one_line(err)
    # ... but resuming the run it holds is fine.
    code, _, err = run_cli(
        tmp_path, monkeypatch, capsys, "train", "--resume", "old/checkpoint.npz"
    )
    assert code == 0, err


def test_two_runs_claiming_one_folder_at_once(tmp_path):
    """Both looked before either wrote: exactly one gets the folder."""
    first = plan_run_dir(str(tmp_path / "run"), None, "run-a")
    second = plan_run_dir(str(tmp_path / "run"), None, "run-b")
    first.claim()
    with pytest.raises(CLIError, match="claimed by another run started at the same"):
        second.claim()
    assert owner(tmp_path / "run") == "run-a"


def test_resuming_a_checkpoint_copied_into_another_runs_folder(
    tmp_path, monkeypatch, capsys
):
    for out in ("a", "b"):
        code, _, err = train(tmp_path, monkeypatch, capsys, "--out", out)
        assert code == 0, err
    model_b = (tmp_path / "b" / "model.npz").read_bytes()
    (tmp_path / "b" / "copied.npz").write_bytes(
        (tmp_path / "a" / "checkpoint.npz").read_bytes()
    )
    code, _, err = run_cli(
        tmp_path, monkeypatch, capsys, "train", "--resume", "b/copied.npz"
    )
    assert code == 2
    assert re.search(
        r"'.*b' holds another run \(run .*\); resume into a folder of its own with "
        r"--out, or pass --force",
        one_line(err),
    )
    assert (tmp_path / "b" / "model.npz").read_bytes() == model_b
    # Into a folder of its own it continues run a.
    code, _, err = run_cli(
        tmp_path, monkeypatch, capsys, "train", "--resume", "b/copied.npz", "--out", "c"
    )
    assert code == 0, err
    assert owner(tmp_path / "c") == owner(tmp_path / "a")


def test_unwritable_out_is_found_before_training(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    code, out, err = train(tmp_path, monkeypatch, capsys, "--out", "notes.txt/run")
    assert code == 2
    assert one_line(err) == (
        "chainrule train: error: cannot write into 'notes.txt/run': Not a directory."
    )
    assert "epoch" not in out


def test_permission_denied_names_the_folder(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(
        CLIError,
        match=r"^cannot write into '.*out': permission denied; choose another --out\.$",
    ):
        RunDir(tmp_path / "out", "r").claim()


# ------------------------------------------------ Ctrl-C (bugs 4, 5 and 7)
def _interrupt_after(epochs: int):
    def run(self):
        for cb in self.callbacks:
            cb.on_train_begin(self)
        for _ in range(epochs):
            self._run_epoch()
        raise KeyboardInterrupt

    return run


def test_ctrl_c_before_any_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Trainer, "run", _interrupt_after(0))
    code, _, err = train(tmp_path, monkeypatch, capsys, "--out", "run")
    assert code == 130
    assert one_line(err) == (
        "chainrule train: interrupted before the first checkpoint; nothing was saved."
    )
    assert not (tmp_path / "run").exists()  # and no empty folder


def test_ctrl_c_hint_is_a_quoted_command_that_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Trainer, "run", _interrupt_after(1))
    code, _, err = train(
        tmp_path, monkeypatch, capsys, "--out", "runs/ü int", "--epochs", "2"
    )
    assert code == 130
    line = one_line(err)
    prefix = "chainrule train: interrupted; resume with: "
    assert line == prefix + "chainrule train --resume 'runs/ü int/checkpoint.npz'"
    command = shlex.split(line[len(prefix) :])
    assert command[:2] == ["chainrule", "train"]
    monkeypatch.undo()
    monkeypatch.setattr("chainrule.cli.report._write_plots", lambda *a, **k: [])
    monkeypatch.chdir(tmp_path)
    assert main(command[1:]) == 0
    assert (
        read_checkpoint(tmp_path / "runs/ü int/checkpoint.npz")[0]["trainer"]["epoch"]
        == 2
    )


def test_ctrl_c_while_drawing_is_one_line_and_keeps_the_files(
    tmp_path, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("chainrule.cli.report._write_plots", interrupted)
    code, _, err = train(tmp_path, monkeypatch, capsys, "--out", "run")
    assert code == 130
    assert one_line(err) == (
        "chainrule train: interrupted; resume with: chainrule train --resume "
        "run/checkpoint.npz"
    )
    assert cr.load(tmp_path / "run" / "model.npz").num_parameters() == 7850
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".part")]


def test_ctrl_c_elsewhere_is_one_line_with_status_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("chainrule.cli.evaluate.load_model", interrupted)
    capsys.readouterr()
    assert main(["evaluate", "model.npz"]) == 130
    assert capsys.readouterr().err == "chainrule evaluate: interrupted\n"


@pytest.mark.slow
def test_a_real_sigint_prints_a_hint_that_pastes(tmp_path):
    """SIGINT to a real process mid-training; the hint, pasted into a shell,
    finishes the run."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    out = tmp_path / "runs" / "ü int"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", "--model",
         "flatten-linear1024-relu-linear1024-relu-linear10", "--epochs", "10",
         "--checkpoint-every", "5", "--json", "--out", str(out)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The first checkpoint comes after 5 of the run's ~290 batches: the
    # signal lands with nearly ten epochs still to go.
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    line = one_line(err)
    hint = line.split("resume with: ", 1)[1]
    assert (
        hint == f"chainrule train --resume {shlex.quote(str(out / 'checkpoint.npz'))}"
    )
    done = subprocess.run(
        ["bash", "-c", hint.replace("chainrule", f"{sys.executable} -m chainrule", 1)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert cr.load(out / "model.npz").metadata["train_args"]["epochs"] == 10


# ------------------------------------------------------ a diverged run
def test_a_diverged_run_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    code, _, err = train(
        tmp_path, monkeypatch, capsys, "--model", "mlp", "--lr", "1e4", "--out", "run"
    )
    assert code == 2
    assert re.match(
        r"^chainrule train: error: NaNGuard: the loss became nan at epoch 1, batch "
        r"\d+; .*\. Try a smaller --lr; nothing was saved\.$",
        one_line(err),
    )
    assert not (tmp_path / "run").exists()


def test_one_epoch_is_singular(tmp_path, monkeypatch, capsys):
    code, out, err = train(tmp_path, monkeypatch, capsys, "--out", "run")
    assert code == 0, err
    assert "for 1 epoch -> run" in out
