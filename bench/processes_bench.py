"""Training with 1 vs N processes (accelerate launch; gloo on a CPU, NCCL on GPUs): tokens/s, alternated rounds.

    python bench/processes_bench.py --profile cpu --steps 20 --processes 1 2 --rounds 2
    python bench/processes_bench.py --profile default --steps 50 --processes 1 8      # a multi-GPU machine

Each recipe trains `--steps` optimizer steps from scratch with the same micro-batch (so N processes move N× the rows
per step) into a temporary adapter folder; the prepared splits of the profile must exist (run prepare first).
Recipes alternate within each round, so a slow spell of a shared machine hits both; the spread is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    results: dict[int, list[dict]] = {n: [] for n in args.processes}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for n in args.processes:
                adapter = Path(tmp) / f"adapter-{n}-{round_}"
                sets = [*args.overrides, f"train.max_steps={args.steps}", f"train.num_processes={n}",
                        "train.resume=false", f"paths.adapter_dir={adapter}",
                        f"train.eval_steps={args.steps}", f"train.save_steps={args.steps}"]
                subprocess.run([sys.executable, "-m", "descgen.train", "--profile", args.profile,
                                *[a for s in sets for a in ("--set", s)]], check=True, env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                report = json.loads((adapter / "training_report.json").read_text())
                results[n].append(report)
                print(f"round {round_ + 1}, {n} process(es): {report['train_tokens_per_s']:.0f} tokens/s, "
                      f"{report['description_tokens_per_s']:.0f} description tokens/s, train {report['train_s']:.1f} s",
                      flush=True)
    print(f"\nprofile {args.profile}, {args.steps} steps, device {results[args.processes[0]][0]['device']}")
    base = statistics.median(r["train_tokens_per_s"] for r in results[args.processes[0]])
    for n, reports in results.items():
        rates = [r["train_tokens_per_s"] for r in reports]
        print(f"{n} process(es): median {statistics.median(rates):.0f} tokens/s (min {min(rates):.0f}, max "
              f"{max(rates):.0f}), effective batch {reports[0]['effective_batch']}, "
              f"{statistics.median(rates) / base:.2f}x of {args.processes[0]}")


if __name__ == "__main__":
    main()
