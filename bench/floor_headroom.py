"""How far above the retrieval floor can any system get on a prepared split? Figures, not a test.

    python bench/floor_headroom.py                 # the cpu profile's splits (run its prepare stage first)
    python bench/floor_headroom.py --profile default --top 8

The floor copies the nearest training title's description. A model shown that neighbour can at best keep what the
two products share and fix what differs. This prints, per test row averaged, ROUGE-L of:

- `floor`: the nearest description as it is (04_compare's `retrieval`);
- `copy + edit`: that description with the words in which the two titles differ swapped for the row's own
  (a 12 oz sibling's "This 12 oz french press" becomes "This 34 oz french press"): what a perfect copier that
  knows nothing else writes;
- `consensus of top N`: of the N nearest descriptions, the one closest (mean ROUGE-L) to the other N − 1, the
  minimum-Bayes-risk pick: what "write the family's typical text" is worth;
- `best of top N`: the oracle that knows the reference and picks the best of the N (an upper bound, not a system);

with the paired 95 % CI of copy + edit − floor, and each in the near-copy and novel buckets (eval.near_copy_rougeL).
When outputs/eval/compare.json exists, the fine-tune's ROUGE-L on the same rows is printed beside them.
If copy + edit − floor is inside the CI's width, no system that copies can show a significant gain on this split:
what the title does not say (a claim, a material) is all that is left to win, and only real descriptions have it
tied to the title.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from descgen import config, retrieval, stages  # noqa: E402
from descgen.evaluation import paired_bootstrap, rouge_scores  # noqa: E402
from descgen.io import read_jsonl  # noqa: E402


def copy_and_edit(neighbour_title: str, title: str, description: str) -> str:
    """`description` with each run of words where `neighbour_title` and `title` differ replaced by the title's
    (case-insensitive; lower case stays lower case)."""
    theirs, ours = neighbour_title.replace(",", "").split(), title.replace(",", "").split()
    matcher = difflib.SequenceMatcher(a=[w.lower() for w in theirs], b=[w.lower() for w in ours], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace":
            source, target = " ".join(theirs[i1:i2]), " ".join(ours[j1:j2])
            description = re.sub(re.escape(source), lambda m: target.lower() if m.group(0).islower() else target,
                                 description, flags=re.IGNORECASE)
    return description


def consensus(descriptions: list[str]) -> str:
    """The description with the highest mean ROUGE-L against the others (itself when alone)."""
    if len(descriptions) == 1:
        return descriptions[0]
    utility = []
    for i, candidate in enumerate(descriptions):
        others = descriptions[:i] + descriptions[i + 1:]
        utility.append(np.mean([s["rougeL"] for s in rouge_scores([candidate] * len(others), others)]))
    return descriptions[int(np.argmax(utility))]


def rouge_l(outputs: list[str], references: list[str]) -> np.ndarray:
    return np.array([s["rougeL"] for s in rouge_scores(outputs, references)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="SECTION.KEY=VALUE")
    parser.add_argument("--top", type=int, default=5, help="N for the consensus and best-of picks")
    args = parser.parse_args()
    cfg = config.load(args.profile, args.overrides)
    train, test = stages.read_split(cfg, "train"), stages.read_split(cfg, "test")
    found = retrieval.NeighbourSource.load(cfg).nearest(test, args.top, "test")  # prepare's catalogue and index
    references = [r["content"] for r in test]

    scores = {
        "floor": rouge_l([near[0]["content"] for near in found], references),
        "copy + edit": rouge_l([copy_and_edit(near[0]["title"], r["title"], near[0]["content"])
                                for r, near in zip(test, found)], references),
        f"consensus of top {args.top}": rouge_l([consensus([n["content"] for n in near]) for near in found],
                                                references),
    }
    per_rank = np.stack([rouge_l([near[min(i, len(near) - 1)]["content"] for near in found], references)
                         for i in range(args.top)])
    scores[f"best of top {args.top} (oracle)"] = per_rank.max(axis=0)
    compare_path = stages.path(cfg, "compare_report")
    if compare_path.exists():
        predictions = {r["uid"]: r["output"] for r in read_jsonl(stages.path(cfg, "finetuned_predictions"))}
        if all(r["uid"] in predictions for r in test):
            scores["fine-tuned (compare.json's run)"] = rouge_l([predictions[r["uid"]] for r in test], references)

    near = scores["floor"] >= cfg.eval.near_copy_rougeL
    print(f"{len(test)} test rows, {len(train)} train rows ({cfg.retrieval.source} neighbours); near copy (floor >= {cfg.eval.near_copy_rougeL}): "
          f"{near.sum()} rows ({near.mean():.1%})")
    print(f"{'system':<34} {'all':>7} {'near copy':>10} {'novel':>7}")
    for name, values in scores.items():
        print(f"{name:<34} {values.mean():7.4f} {values[near].mean() if near.any() else float('nan'):10.4f} "
              f"{values[~near].mean():7.4f}")
    gain = paired_bootstrap(scores["floor"], scores["copy + edit"], cfg.eval.bootstrap_samples, cfg.eval.seed)
    print(f"copy + edit − floor: {gain['mean']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}] (paired 95 % CI)")
    if "fine-tuned (compare.json's run)" in scores:
        delta = paired_bootstrap(scores["floor"], scores["fine-tuned (compare.json's run)"],
                                 cfg.eval.bootstrap_samples, cfg.eval.seed)
        print(f"fine-tuned − floor:  {delta['mean']:+.4f} [{delta['ci_low']:+.4f}, {delta['ci_high']:+.4f}]")


if __name__ == "__main__":
    main()
