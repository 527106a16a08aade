"""Retrieval: our TF-IDF index (descgen/retrieval.py) vs bm25s, on quality and speed.

    python bench/retrieval_bench.py                              # 20 k and 1.3 M stand-in titles, + the sample
    python bench/retrieval_bench.py --rows 20000                 # quicker
    pip install bm25s==0.3.16 && python bench/retrieval_bench.py  # adds bm25s (not a project dependency)

Quality: the top-1 ROUGE-L of the copied description (what the retrieval floor scores) for each test row of a
prepared split (`--profile`, default cpu: the bundled sample), and how often the copied description is the
reference itself (a sibling's). Speed: build time, the time to query 500 titles (k = 1 and 4) and the index's
size, on stand-in titles at 20 k and 1.3 M training rows (random windows of a product vocabulary, like
bench/prepare_bench.py's stand-in: timing, not quality).
"""

from __future__ import annotations

import argparse
import pickle
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prepare_bench import WORDS  # noqa: E402  (bench/, beside this script)


def standin_titles(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) for _ in range(n)]


class Bm25:
    """bm25s with the same question: the k best training rows for each title."""

    def __init__(self, titles: list[str]):
        import bm25s

        self.bm25s = bm25s
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(titles, show_progress=False), show_progress=False)

    def search(self, titles: list[str], k: int) -> list[list[int]]:
        ids, _ = self.retriever.retrieve(self.bm25s.tokenize(titles, show_progress=False), k=k, show_progress=False)
        return ids.tolist()


def engines():
    from descgen import retrieval

    found = {"tfidf": (lambda titles: retrieval.build([{"uid": str(i), "title": t, "content": ""}
                                                       for i, t in enumerate(titles)]),
                       lambda index, titles, k: [[j for j, _ in hits] for hits in index.search(titles, k)])}
    try:
        import bm25s  # noqa: F401

        found["bm25s"] = (Bm25, lambda index, titles, k: index.search(titles, k))
    except ImportError:
        print("bm25s not installed: `pip install bm25s==0.3.16` to compare it", flush=True)
    return found


def quality(profile: str) -> None:
    from descgen import config, evaluation, prepare, stages

    cfg = config.load(profile, ["paths.outputs=bench/data/retrieval/outputs"])
    prepare.run(cfg)
    train, test = stages.read_split(cfg, "train"), stages.read_split(cfg, "test")
    train_titles = [r["title"] for r in train]
    for name, (build, search) in engines().items():
        index = build(train_titles)
        top = [hits[0] for hits in search(index, [r["title"] for r in test], 1)]
        copied = [train[j]["content"] for j in top]
        scores = [s["rougeL"] for s in evaluation.rouge_scores(copied, [r["content"] for r in test])]
        exact = sum(c == r["content"] for c, r in zip(copied, test))
        print(f"quality  {name:<6} {profile} profile, {len(train)} train / {len(test)} test rows: top-1 ROUGE-L "
              f"{sum(scores) / len(scores):.4f}, copied the reference itself in {exact} rows", flush=True)


def speed(rows: int, queries: int = 500) -> None:
    titles = standin_titles(rows)
    asked = standin_titles(queries, seed=1)
    for name, (build, search) in engines().items():
        started = time.perf_counter()
        index = build(titles)
        built = time.perf_counter() - started
        timings = []
        for k in (1, 4):
            started = time.perf_counter()
            search(index, asked, k)
            timings.append(time.perf_counter() - started)
        size = len(pickle.dumps(index.retriever if name == "bm25s" else index, protocol=pickle.HIGHEST_PROTOCOL))
        print(f"speed    {name:<6} {rows:>9,} train titles: build {built:6.2f} s, {queries} queries k=1 "
              f"{timings[0]:.3f} s, k=4 {timings[1]:.3f} s, index {size / 1e6:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="20000,1300000", help="training-row counts for the speed runs")
    parser.add_argument("--profile", default="cpu", help="whose prepared splits the quality run uses")
    args = parser.parse_args()
    quality(args.profile)
    for rows in (int(r) for r in args.rows.split(",")):
        speed(rows)


if __name__ == "__main__":
    main()
