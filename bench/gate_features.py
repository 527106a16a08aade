"""What each of the copy-or-write gate's features earns: cross-validated AUC and recall at the promised precision on
the catalogue's free labels, with every feature, with each one left out, and with the features of the gate before
the precision promise (format 2), over several CV seeds (the spread is the noise a difference must beat).

    python bench/gate_features.py --profile cpu            # prepares the profile's data first if it is missing
    python bench/gate_features.py --profile cpu --seeds 5 --set gate.min_precision=0.95

Prints one line per feature set: mean AUC, mean recall at gate.min_precision, and their range over the seeds. No
model is loaded: labels are a copy's ROUGE-L against the row's own description (descgen/gate.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from descgen import config, gate, prepare, retrieval, stages  # noqa: E402

# the gate's features before the precision promise (format 2), by their names here
BEFORE = ("similarity", "gap", "description_rows", "agreeing_neighbours", "title_words_in_description",
          "own_title_in_description", "title_length_ratio", "first_word_match", "kept_share")


def score(x: np.ndarray, right: np.ndarray, seeds: list[int], min_precision: float) -> tuple[list[float], list[float]]:
    aucs, recalls = [], []
    for seed in seeds:
        _, report = gate.fit_probability(x, right, seed)
        curve = gate.precision_curve(np.array(report["cv_probability"]), right)
        aucs.append(report["cv_auc"])
        recalls.append(gate.operating_point(curve, min_precision)["recall"])
    return aucs, recalls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    cfg = config.load(args.profile, args.overrides)
    if not stages.path(cfg, "neighbours").exists():
        prepare.run(cfg)
    source = retrieval.NeighbourSource.load(cfg)
    rng = np.random.default_rng(cfg.eval.seed)
    shown = source.catalogue.catalogue_rows
    picked = np.sort(rng.choice(shown, size=min(gate.LABEL_ROWS, shown), replace=False))
    labelled = gate.labelled(cfg, source, source.catalogue.rows(picked), None)
    x, right = labelled["x"], labelled["right"]
    seeds = list(range(args.seeds))
    print(f"{len(right)} labelled catalogue rows, {right.mean():.1%} right; promise: precision {cfg.gate.min_precision}; "
          f"{len(seeds)} CV seeds")
    sets = {"all features": list(gate.FEATURES), "before (format 2)": list(BEFORE)}
    sets.update({f"without {name}": [f for f in gate.FEATURES if f != name] for name in gate.FEATURES})
    print(f"{'features':<36} {'AUC':>6} {'range':>13}   {'recall':>6} {'range':>13}")
    for label, names in sets.items():
        columns = [gate.FEATURES.index(n) for n in names]
        aucs, recalls = score(x[:, columns], right, seeds, cfg.gate.min_precision)
        print(f"{label:<36} {np.mean(aucs):6.3f} [{min(aucs):.3f}, {max(aucs):.3f}]   {np.mean(recalls):6.3f} "
              f"[{min(recalls):.3f}, {max(recalls):.3f}]")


if __name__ == "__main__":
    main()
