"""`python -m descgen.describe` (one model load, length-sorted batches) vs one `python -m descgen.predictor TITLE`
per title (a model load each), on the same test titles of a finished run.

    python bench/describe_bench.py --profile cpu --rows 200 --per-title 20
    python bench/describe_bench.py --profile smoke

describe runs on all `--rows` titles; the per-title command on the first `--per-title` of them (each launch costs
the interpreter, torch and the model load: 200 launches of the cpu profile take ~half an hour, so its rate is
measured on a subset). Prints both rows/s, the ratio, and how many of the per-title texts equal describe's
(batched greedy decoding pads prompts, a single prompt does not; in fp32 the two can differ in rare ties).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from descgen import config  # noqa: E402
from descgen.stages import read_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--per-title", type=int, default=20)
    args = parser.parse_args()
    cfg = config.load(args.profile, args.overrides)
    rows = read_split(cfg, "test")[: args.rows]
    sets = [item for o in args.overrides for item in ("--set", o)]
    env = dict(os.environ, PYTHONPATH=str(REPO))

    with tempfile.TemporaryDirectory() as tmp:
        titles = Path(tmp) / "titles.jsonl"
        titles.write_text("".join(json.dumps({"uid": r["uid"], "title": r["title"]}) + "\n" for r in rows))
        out = Path(tmp) / "out.jsonl"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "descgen.describe", "--profile", args.profile, *sets, "--input",
                        str(titles), "--output", str(out)], check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        describe_s = time.perf_counter() - started
        described = [json.loads(line)["description"] for line in out.read_text().splitlines()]

    single, equal = [], 0
    for row, batched in zip(rows[: args.per_title], described):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "descgen.predictor", "--profile", args.profile, *sets,
                               row["title"]], check=True, env=env, cwd=REPO, capture_output=True, text=True)
        single.append(time.perf_counter() - started)
        text = done.stdout.split("\n", 1)[1].strip()  # "# title\n<text>\n"
        equal += text == batched

    describe_rate = len(rows) / describe_s
    single_rate = len(single) / sum(single)
    print(f"profile {args.profile}: describe {len(rows)} rows in {describe_s:.1f} s = {describe_rate:.2f} rows/s "
          f"(model load included)")
    print(f"one generate per title: {len(single)} titles in {sum(single):.1f} s = {single_rate:.3f} rows/s "
          f"(min {min(single):.1f} s, max {max(single):.1f} s a title)")
    print(f"ratio: {describe_rate / single_rate:.1f}x; texts identical on {equal}/{len(single)} titles")


if __name__ == "__main__":
    main()
