"""A progress line for reading large files: percent of bytes (or files) done."""

from __future__ import annotations

import sys
import time

#: Files smaller than this are read without a progress line.
PROGRESS_MIN_BYTES = 16 * 2**20


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


class ReadProgress:
    """``reading data.csv (pass 1 of 2)  45%  450.0 MB of 1.0 GB``.

    On a terminal the line is redrawn with ``\\r`` at most ten times a second;
    otherwise one line is printed at each quarter, so logs stay short. Nothing
    is printed when ``enabled`` is false.
    """

    def __init__(self, what: str, total: int, enabled: bool, unit: str = "bytes"):
        self.what, self.total, self.unit = what, max(int(total), 1), unit
        self.enabled = enabled
        self.stream = sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last = 0.0
        self.quarter = 0

    def _amount(self, done: int) -> str:
        if self.unit == "bytes":
            return f"{_size(done)} of {_size(self.total)}"
        return f"{done:,} of {self.total:,} {self.unit}"

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        percent = min(100, int(100 * done / self.total))
        if self.tty:
            now = time.perf_counter()
            if now - self.last >= 0.1:
                self.last = now
                self.stream.write(
                    f"\r{self.what}  {percent:3d}%  {self._amount(done)}\x1b[K"
                )
                self.stream.flush()
        elif percent >= 25 * (self.quarter + 1) and percent < 100:
            self.quarter = percent // 25
            self.stream.write(f"{self.what}  {percent:3d}%  {self._amount(done)}\n")

    def finish(self) -> None:
        if self.enabled:
            end = "\r" if self.tty else ""
            self.stream.write(
                f"{end}{self.what}  100%  {self._amount(self.total)}\x1b[K\n"
                if self.tty
                else f"{self.what}  100%  {self._amount(self.total)}\n"
            )
            self.stream.flush()
