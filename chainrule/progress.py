"""The training progress line, Keras style, with no dependency:

    epoch 3/10  412/469 [=========>..]  ETA 2s (run 1m03s)  loss 0.4312  acc 0.8710  5120 samples/s

"ETA" is the rest of this epoch; "run" adds the epochs still to come, each
as long as this one is going, so a long run shows its honest end early.

On a terminal the line is redrawn in place with ``\\r``; when output goes to a
file or a pipe, one plain line is printed per epoch, so logs stay readable. In
a Jupyter kernel, with tqdm and ipywidgets installed (``pip install
'chainrule[notebook]'``), each epoch is one notebook progress widget instead,
redrawn in place (a kernel's output is no terminal: ``\\r`` would not work).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class ProgressBar:
    """One epoch's progress.

    Parameters
    ----------
    total : int
        Number of batches in the epoch.
    epoch, epochs : int
        1-based epoch number and the total, for the prefix.
    stream : file, default sys.stdout
    width : int
        Width of the bar in characters.
    interval : float
        Minimum seconds between redraws on a terminal.
    live : bool
        Redraw during the epoch (on a terminal); False prints only the final line.
    """

    def __init__(
        self,
        total: int,
        epoch: int,
        epochs: int,
        stream: TextIO | None = None,
        width: int = 20,
        interval: float = 0.1,
        live: bool = True,
    ) -> None:
        self.total = max(int(total), 1)
        self.prefix = f"epoch {epoch}/{epochs}"
        self.epochs_after = max(int(epochs) - int(epoch), 0)
        self.stream = stream or sys.stdout
        self.width = width
        self.interval = interval
        self.start = time.perf_counter()
        self.last_draw = 0.0
        is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.dynamic = live and is_tty
        # A widget only for output going to the notebook itself: a stream the
        # caller chose (a log file) keeps its plain lines.
        self.widget = None
        if live and self.stream is sys.stdout:
            self.widget = _notebook_bar(self.total, self.prefix)

    def _values(self, values: dict[str, float]) -> str:
        return "  ".join(f"{_short(k)} {v:.4f}" for k, v in values.items())

    def update(self, done: int, samples: int, values) -> None:
        """Redraw after ``done`` batches and ``samples`` samples (terminals only).

        ``values`` is a dict of running values, or a function returning one,
        called only when the line is actually redrawn.
        """
        if not self.dynamic and self.widget is None:
            return
        now = time.perf_counter()
        if now - self.last_draw < self.interval and done < self.total:
            return
        self.last_draw = now
        elapsed = now - self.start
        filled = int(self.width * done / self.total)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width else "=")
        bar = bar.ljust(self.width, ".")
        eta = elapsed / done * (self.total - done) if done else 0.0
        rate = samples / elapsed if elapsed > 0 else 0.0
        if callable(values):
            values = values()
        if self.widget is not None:
            self.widget.n = done
            self.widget.set_postfix_str(self._values(values), refresh=False)
            self.widget.refresh()
            return
        run = ""
        if self.epochs_after and done:
            whole_epoch = elapsed / done * self.total
            run = f" (run {_fmt_time(eta + self.epochs_after * whole_epoch)})"
        line = (
            f"{self.prefix}  {done}/{self.total} [{bar}]  ETA {_fmt_time(eta)}{run}  "
            f"{self._values(values)}  {rate:,.0f} samples/s"
        )
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()

    def finish(self, samples: int, values: dict[str, float]) -> None:
        """The epoch's final line, with validation values if any."""
        if self.widget is not None:
            self.widget.n = self.total
            self.widget.set_postfix_str(self._values(values), refresh=False)
            self.widget.close()  # leave=True: the finished bar stays, in green
            return
        elapsed = time.perf_counter() - self.start
        rate = samples / elapsed if elapsed > 0 else 0.0
        line = (
            f"{self.prefix}  {self.total}/{self.total}  {_fmt_time(elapsed)}  "
            f"{self._values(values)}  {rate:,.0f} samples/s"
        )
        self.stream.write(("\r" + line + "\x1b[K\n") if self.dynamic else line + "\n")
        self.stream.flush()


def _short(name: str) -> str:
    return name.replace("accuracy", "acc")


def _notebook_bar(total: int, prefix: str):
    """A tqdm notebook widget when running in a Jupyter kernel with tqdm and
    ipywidgets importable; None otherwise (the text line is used)."""
    from ._html import in_jupyter

    if not in_jupyter():
        return None
    try:
        import ipywidgets  # noqa: F401 - tqdm.notebook needs it to draw
        from tqdm.notebook import tqdm
    except ImportError:
        return None
    # tqdm's own redraws are throttled (mininterval) on top of ours, and the
    # bar is left in place when closed: one widget per epoch, no flood.
    return tqdm(total=total, desc=prefix, unit="batch", leave=True, mininterval=0.2)
