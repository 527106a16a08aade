"""Prepare at full scale: the seeds' pandas way vs our streaming prepare, on a full-size stand-in of trn.json.

    python bench/prepare_bench.py                 # writes bench/data/trn_2248619.json (~1.9 GB) if missing
    python bench/prepare_bench.py --lines 200000  # a quicker, smaller run
    python bench/prepare_bench.py --skip-pandas --scanner python  # only ours, with the fallback loop

The stand-in has trn.json's schema and shape: 2,248,619 lines, a third with empty content, a long tail of
content lengths (log-normal, capped at 20k chars), HTML entities and tags. It has no malformed line: a single
one makes pandas.read_json(lines=True) raise ("Expected object or value") and the pandas way has no result.
Each approach runs in its own process; peak RSS is the sum over the process tree (workers included),
sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL_LINES = 2_248_619
N_TRAIN, N_VALIDATION, N_TEST = 20_000, 500, 500

WORDS = ("the a of and for with this is in to you your our it on by from as great quality perfect design "
         "easy use made durable premium soft stainless steel cotton kids women men gift set pack size color "
         "black white blue red pink green book novel story author edition classic series collection music "
         "album cd vinyl live recorded sound kitchen coffee tea cup bottle water travel home office garden "
         "outdoor light lamp led battery wireless bluetooth charger cable phone case cover screen protector "
         "toy game puzzle building blocks learning fun family dog cat pet food bowl bed leash collar").split()


def write_standin(path: Path, lines: int, seed: int = 0) -> None:
    """~850 bytes a line on average, like trn.json (1.9 GB / 2.25 M lines)."""
    rng = random.Random(seed)
    pool = " ".join(rng.choice(WORDS) for _ in range(3_000_000))  # slice windows of this instead of joining per line
    pool = pool.replace(" and ", " &amp; ", 5000).replace(" it ", " it&#8217;s ", 5000)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for i in range(lines):
            start = rng.randrange(0, len(pool) - 200)
            title = pool[start:start + rng.randint(15, 120)].strip()
            if rng.random() < 1 / 3:
                content = ""
            else:
                length = min(int(rng.lognormvariate(6.55, 0.9)), 20_000)
                start = rng.randrange(0, len(pool) - length - 1)
                content = pool[start:start + length]
                if rng.random() < 0.1:
                    content = "<b>" + content[:40] + "</b><br>" + content[40:]
            fh.write(json.dumps({"uid": f"B{i:010d}", "title": title, "content": content,
                                 "target_ind": [i % 1_300_000], "target_rel": [1.0]}) + "\n")
    tmp.replace(path)


def pandas_way(path: str) -> dict:
    """What earlier projects did: load everything, then filter, clean and sample."""
    import html

    import pandas as pd

    frame = pd.read_json(path, lines=True)
    frame = frame[frame["content"].str.len() > 0]
    frame["title"] = frame["title"].map(html.unescape)
    frame["content"] = frame["content"].map(html.unescape)
    frame = frame.drop_duplicates(subset=["title", "content"])
    sample = frame.sample(n=N_TRAIN + N_VALIDATION + N_TEST, random_state=42)
    return {"rows": len(frame), "sampled": len(sample)}


def our_way(path: str, workers: int, scanner: str) -> dict:
    from descgen import config, prepare

    cfg = config.load(overrides=[f"data.path={path}", f"data.n_train={N_TRAIN}", f"data.n_validation={N_VALIDATION}",
                                 f"data.n_test={N_TEST}", f"data.workers={workers}", f"data.scanner={scanner}",
                                 f"paths.outputs={ROOT / 'bench' / 'data' / 'outputs'}"])
    report = prepare.run(cfg).report
    return {"rows": report["eligible"], "sampled": sum(report["split_sizes"].values()),
            "lines_read": report["lines_read"], "malformed": report["malformed"], "scanner": report["scanner"],
            "phase_s": report["phase_s"]}


def measure(approach: str, path: Path, workers: int, scanner: str = "auto") -> dict:
    """Run one approach in a child process; wall time and peak RSS of its whole process tree."""
    import psutil

    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--run", approach, "--path", str(path),
                              "--workers", str(workers), "--scanner", scanner], stdout=subprocess.PIPE, text=True)
    parent, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            tree = [parent] + parent.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - started
    out = child.stdout.read()
    if child.returncode != 0:
        raise RuntimeError(f"{approach} failed")
    return {"approach": approach, "wall_s": wall, "peak_rss_bytes": peak, **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=FULL_LINES)
    parser.add_argument("--path", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-pandas", action="store_true", help="only time our prepare")
    parser.add_argument("--scanner", choices=["auto", "c", "python"], default="auto",
                        help="our per-line loop (data.scanner); python = the fallback where descgen._scan is not built")
    parser.add_argument("--run", choices=["pandas", "ours"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        result = pandas_way(args.path) if args.run == "pandas" else our_way(args.path, args.workers, args.scanner)
        print(json.dumps(result))
        return

    path = Path(args.path) if args.path else ROOT / "bench" / "data" / f"trn_{args.lines}.json"
    if not path.exists():
        print(f"writing a {args.lines:,}-line stand-in to {path} ...", flush=True)
        write_standin(path, args.lines)
    print(f"file: {path} ({path.stat().st_size / 1e9:.2f} GB), {os.cpu_count()} cores", flush=True)
    results = [measure("ours", path, args.workers, args.scanner)]
    print(results[-1], flush=True)
    if not args.skip_pandas:
        results.append(measure("pandas", path, args.workers))
        print(results[-1], flush=True)
    print(f"\n{'approach':<8} {'wall s':>8} {'peak RSS GB':>12} {'eligible rows':>14}")
    for r in results:
        print(f"{r['approach']:<8} {r['wall_s']:8.1f} {r['peak_rss_bytes'] / 1e9:12.2f} {r['rows']:14,}")
    if len(results) == 2:
        ours, pandas = results
        print(f"\nours is {pandas['wall_s'] / ours['wall_s']:.1f}x faster and uses "
              f"{pandas['peak_rss_bytes'] / ours['peak_rss_bytes']:.1f}x less memory")


if __name__ == "__main__":
    main()
