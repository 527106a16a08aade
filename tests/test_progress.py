"""Progress lines: plain, steady, with rate and time left; bars only in an interactive Jupyter kernel."""

from __future__ import annotations

import io

from descgen import progress


def test_lines_say_done_total_rate_and_time_left_and_print_at_the_end():
    out = io.StringIO()
    meter = progress.Progress("generating baseline", 40, every_s=3600, stream=out)
    for _ in range(3):
        meter.update(10)
    assert out.getvalue() == ""  # not due yet: one line per every_s, not one per update
    meter.update(10, loss=1.23456)
    line = out.getvalue().strip()
    assert line.startswith("[generating baseline] 40/40 rows · loss 1.2346 · ")
    assert " rows/s · " in line and " elapsed · " in line and line.endswith(" left")
    assert "\r" not in line and "\x1b" not in line


def test_an_open_ended_loop_prints_its_count_when_closed_and_headless_runs_never_use_bars(monkeypatch):
    out = io.StringIO()
    meter = progress.Progress("describe", None, every_s=3600, stream=out)
    meter.update(7)
    meter.close()
    assert out.getvalue().startswith("[describe] 7 rows · ") and " left" not in out.getvalue()
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setenv(progress.LINES_ENV, "lines")
    assert not progress.use_bars()  # papermill's kernel: lines, which the runner echoes
    monkeypatch.delenv(progress.LINES_ENV)
    assert progress.use_bars()
    assert progress.clock(3725) == "1:02:05" and progress.clock(65) == "1:05"
