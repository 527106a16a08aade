"""The default profile's code path at Phi-4-mini's real size (3.84 B parameters) on this CPU: bench/real_size.py,
~10 minutes and ~12 GB of RAM, so not part of CI (`python -m pytest -q -m slow`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_phi4_mini_at_real_size_trains_saves_reloads_and_merges_on_cpu():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "real_size.py"), "--steps", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["failed"] == [] and summary["checks_passed"]
    assert summary["trainable_params"] == 23_068_672
    assert set(summary["recipes"]) == {"none", "4bit"}
