"""Progress you can watch: short plain lines at a steady rate in a terminal or a log (headless runs), the usual bars
in Jupyter.

A headless run (`./run_all.sh`) executes notebooks in a papermill kernel; the runner sets DESCGEN_PROGRESS=lines
and has papermill copy the kernel's stdout to the terminal as it arrives, so a cell that trains for an hour prints
a line every `DESCGEN_PROGRESS_EVERY` seconds (default 10) instead of nothing. A line reads

    [train] step 40/150 · loss 2.3120 · eval_loss 2.41 · 412 tok/s · 0:41 elapsed · 1:53 left

no carriage returns, no ANSI codes: a log file stays readable.
"""

from __future__ import annotations

import os
import sys
import time

LINES_ENV = "DESCGEN_PROGRESS"
EVERY_ENV = "DESCGEN_PROGRESS_EVERY"


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def use_bars() -> bool:
    """Bars in an interactive Jupyter kernel; plain lines everywhere else (terminal, log, papermill)."""
    return os.environ.get(LINES_ENV) != "lines" and in_notebook()


def interval_s() -> float:
    return float(os.environ.get(EVERY_ENV, 10))


def clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """`done/total unit`, rate and time left for a loop; `update(n, **fields)` after each step of work."""

    def __init__(self, label: str, total: int | None, unit: str = "rows", enabled: bool = True,
                 every_s: float | None = None, stream=None):
        self.label, self.total, self.unit = label, total, unit
        self.enabled = enabled
        self.every_s = interval_s() if every_s is None else every_s
        self.stream = stream or sys.stdout
        self.started = self.last_print = time.perf_counter()
        self.done = 0
        self.fields: dict = {}
        self.bar = None
        if enabled and use_bars():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=label, unit=f" {unit}")

    def update(self, n: int = 1, quiet: bool = False, **fields) -> None:
        """Count `n` more done; print a line if one is due (`quiet`: count only, the caller prints soon)."""
        self.done += n
        self.fields.update(fields)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            if fields:
                self.bar.set_postfix({k: _short(v) for k, v in self.fields.items()}, refresh=False)
            return
        if not quiet:
            self.tick()

    def tick(self) -> None:
        """Print a line if `every_s` has passed since the last one, or the work is done."""
        if not self.enabled or self.bar is not None:
            return
        now = time.perf_counter()
        if now - self.last_print >= self.every_s or (self.total is not None and self.done >= self.total):
            self.print_line(now)

    def print_line(self, now: float | None = None) -> None:
        if not self.enabled or self.bar is not None:
            return
        now = now or time.perf_counter()
        self.last_print = now
        print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.perf_counter()) - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"[{self.label}] {self.done}/{self.total} {self.unit}" if self.total is not None
                 else f"[{self.label}] {self.done} {self.unit}"]
        parts += [f"{k} {_short(v)}" for k, v in self.fields.items()]
        parts.append(f"{rate:.2f} {self.unit}/s" if rate < 10 else f"{rate:.0f} {self.unit}/s")
        parts.append(f"{clock(elapsed)} elapsed")
        if self.total is not None and rate > 0:
            parts.append(f"{clock((self.total - self.done) / rate)} left")
        return " · ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.done and time.perf_counter() - self.last_print > 0 and (
                self.total is None or self.done < self.total):
            self.print_line()


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
