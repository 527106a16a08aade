"""One benchmark recipe in a fresh process, so each one's peak RSS is its own (shared by the bench scripts)."""

from __future__ import annotations

import json
import os
import subprocess
import time


def run_json_child(command: list[str], what: str) -> dict:
    """Run `command`; its last stdout line is a JSON object, returned with the child's peak RSS and wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{what} failed (exit {code}); its output is above")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_bytes"] = usage.ru_maxrss * 1024  # Linux: KiB
    result["wall_s"] = time.perf_counter() - started
    return result
