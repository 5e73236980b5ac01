"""Run folders for `chainrule train`: one run per folder, claimed before training.

A run folder belongs to one run. Its ``run.json`` names the run (the same id
is in the metadata of the model file and the checkpoint), and is created with
``O_EXCL``: of two trainings started into the same folder, or in the same
second into ``runs/<timestamp>``, exactly one gets it. Writing into a folder
that holds another run needs ``--force``; resuming the run the folder holds
does not.

Everything is checked before the data is loaded (:func:`plan_run_dir`, which
creates nothing) and the folder is claimed just before training starts
(:meth:`RunDir.claim`), so that an unwritable ``--out`` is reported within a
second, and a run that fails or is stopped before writing anything leaves no
folder behind (:meth:`RunDir.release`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ._common import CLIError

MARKER = "run.json"

#: What `chainrule train` writes into a run folder (and --force replaces).
RUN_FILES = (
    MARKER,
    "model.npz",
    "checkpoint.npz",
    "history.csv",
    "history.json",
    "history.png",
    "confusion_matrix.png",
    "misclassified.png",
    "first_layer.png",
    "grad_norms.png",
)


def new_run_id() -> str:
    """A name for a new run, unique across machines: its start time and 8 random hex digits."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _owner(directory: Path) -> str | None:
    """The id of the run ``directory`` holds; ``""`` for a run without one (made
    before runs had ids, or a damaged marker); None when it holds no run."""
    marker = directory / MARKER
    if marker.is_file():
        try:
            run = json.loads(marker.read_text(encoding="utf-8")).get("run")
        except (OSError, ValueError, AttributeError):
            run = None
        return run if isinstance(run, str) and run else ""
    if any((directory / name).exists() for name in ("model.npz", "checkpoint.npz")):
        return ""
    return None


@dataclass
class RunDir:
    """Where a training run writes, and whether it made the folder itself."""

    path: Path | None  # None: a fresh runs/<timestamp>, named when claimed
    run_id: str
    force: bool = False
    created: bool = False
    claimed: bool = False
    #: The run's ModelCheckpoint, and how many saves it had made before this
    #: process started (a resumed run's count comes from its checkpoint).
    checkpoint: object = None
    saved_before: int = 0
    _made_parent: bool = field(default=False, repr=False)
    _resume_file: Path | None = field(default=None, repr=False)

    @property
    def _resume_dir(self) -> Path | None:
        return None if self._resume_file is None else self._resume_file.parent

    def claim(self) -> Path:
        """Create the folder (exclusively for a fresh one) and its ``run.json``.

        Raises CLIError naming the folder when it cannot be written, or when
        another run claimed it since :func:`plan_run_dir` looked.
        """
        try:
            if self.path is None:
                self._made_parent = not Path("runs").exists()
                self.path = _fresh_dir(Path("runs"), self.run_id[:15])
                self.created = True
            elif not self.path.is_dir():
                self.path.mkdir(parents=True)
                self.created = True
            self._write_marker()
        except PermissionError:
            raise CLIError(
                f"cannot write into {str(self.path or 'runs')!r}: permission denied; "
                "choose another --out."
            ) from None
        except FileExistsError:
            raise CLIError(
                f"--out {str(self.path)!r} was claimed by another run started at the "
                "same time; choose another --out."
            ) from None
        except OSError as exc:
            raise CLIError(
                f"cannot write into {str(self.path or 'runs')!r}: "
                f"{exc.strerror or exc}."
            ) from None
        self.claimed = True
        return self.path

    def wrote_checkpoint(self) -> bool:
        """Whether this process wrote a checkpoint into the folder."""
        saved = getattr(self.checkpoint, "saved", 0)
        return bool(
            self.path is not None
            and saved > self.saved_before
            and (self.path / "checkpoint.npz").is_file()
        )

    def _write_marker(self) -> None:
        marker = self.path / MARKER
        record = {"format": "chainrule-run", "run": self.run_id}
        if self.force or _owner(self.path) == self.run_id or (
            self._resume_dir is not None and self._resume_dir == self.path.resolve()
        ):
            # Replacing another run (--force), or resuming this one.
            if self.force and _owner(self.path) not in (None, self.run_id):
                self._remove_other_run()
            marker.write_text(json.dumps(record) + "\n", encoding="utf-8")
            return
        # "x": exactly one of two runs started into this folder gets it.
        with open(marker, "x", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _remove_other_run(self) -> None:
        # Only the files a run writes, by name; never the checkpoint this run
        # resumes from, were it copied into the folder.
        keep = self._resume_file
        for name in RUN_FILES:
            path = self.path / name
            if keep is not None and path.resolve() == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def release(self) -> None:
        """Undo :meth:`claim` when the run wrote nothing else: no empty folder."""
        if not self.claimed or self.path is None:
            return
        left = [p for p in self.path.iterdir() if p.name != MARKER]
        if left:
            return
        with contextlib.suppress(OSError):
            (self.path / MARKER).unlink()
            if self.created:
                self.path.rmdir()
            if self._made_parent:  # ./runs made for this run alone
                self.path.parent.rmdir()
        self.claimed = False


def _fresh_dir(parent: Path, stem: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        path = parent / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()  # exclusive: fails if another run made it first
        except FileExistsError:
            continue
        return path
    raise CLIError(f"too many runs named {stem!r} in {str(parent)!r}; pass --out.")


def plan_run_dir(
    out: str | None,
    resume: str | None,
    run_id: str,
    force: bool = False,
) -> RunDir:
    """Decide where a run writes, creating nothing.

    Parameters
    ----------
    out : str or None
        ``--out``; None for the checkpoint's folder when resuming, else a fresh
        ``runs/<timestamp>``.
    resume : str or None
        ``--resume``: the checkpoint being continued.
    run_id : str
        This run's id (the checkpoint's when resuming).
    force : bool
        ``--force``: replace another run's files.

    Raises
    ------
    CLIError
        When ``out`` is a file, or a folder holding another run without ``force``.
    """
    resume_file = Path(resume).resolve() if resume else None
    resume_dir = None if resume_file is None else resume_file.parent
    if out:
        path = Path(out)
    elif resume_dir is not None:
        path = resume_dir
    else:
        return RunDir(None, run_id, force)
    if path.exists() and not path.is_dir():
        raise CLIError(f"--out {str(path)!r} is a file, not a directory.")
    if path.is_dir() and not force:
        owner = _owner(path)
        own = owner == run_id or (owner == "" and resume_dir == path.resolve())
        if owner is not None and not own:
            which = f"run {owner}" if owner else "an earlier run"
            hint = (
                "resume into a folder of its own with --out"
                if resume
                else "choose another --out"
            )
            raise CLIError(
                f"{str(path)!r} holds another run ({which}); {hint}, or pass "
                "--force to replace it."
            )
    return RunDir(path, run_id, force, _resume_file=resume_file)


def quoted(path: os.PathLike | str) -> str:
    """``path`` as one shell word, for a command line the user can paste."""
    import shlex

    return shlex.quote(str(path))
