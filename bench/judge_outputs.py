"""Judge a compare stage's predictions again with this checkout's judges: how a run made by older code (another
commit's outputs/eval/) fares on what a shop now counts as failures. The judges read nothing the old code wrote but
each row's title, its reference and the text shipped.

    python bench/judge_outputs.py outputs/eval
    python bench/judge_outputs.py ../before/outputs/eval --right 0.5

Prints one line per system: ROUGE-L as the run scored it, then, judged here against each row's reference:
- wrong products: rows shipping a copy whose nearest description is another product's text (retrieval copies every
  row; gated the rows it marked copied; the nearest description counts as this product's where the retrieval floor's
  ROUGE-L against the reference is at least --right, the gate's labelling rule, descgen/gate.py);
- wrong facts: rows stating a fact (number, size, colour, format, name, credit) neither the title nor the reference
  states (descgen/facts.py);
- wrong numbers: rows stating a number neither the title nor the reference states, by a plain digit judge apart
  from facts.py (descgen/evaluation.number_unstated: the shipped texts are cleaned by facts.py, so its rate on them
  says only that the cleaning ran);
- unfounded credits: praise credited to a source neither the title nor the reference names, by facts.py and by the
  plain "— Source" regex judge (descgen/evaluation.credit_unfounded);
- ends whole: texts ending with a whole sentence or a credit line (descgen/sentences.py);
- stop rate: generations that ended by themselves, where the run recorded it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from descgen import evaluation, facts, sentences  # noqa: E402

SYSTEMS = ("baseline", "baseline_rag", "finetuned", "retrieval", "gated", "oracle")


def load(folder: Path, name: str) -> list[dict] | None:
    path = folder / f"{name}_predictions.jsonl"
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def judged(rows: list[dict], name: str, right: dict[str, bool]) -> dict:
    copied = [bool(r.get("copied", name == "retrieval" and r["output"])) for r in rows]
    truth = [facts.unsupported_facts(r["output"], [r["title"], r["reference"]]) for r in rows]
    return {
        "rows": len(rows),
        "rougeL": float(np.mean([r["rougeL"] for r in rows])),
        "copied": int(sum(copied)),
        "wrong_products": float(np.mean([c and not right.get(r["uid"], False) for c, r in zip(copied, rows)])),
        "wrong_facts": float(np.mean([bool(t) for t in truth])),
        "wrong_numbers_plain": float(np.mean([evaluation.number_unstated(r["output"], r["title"], r["reference"])
                                              for r in rows])),
        "unfounded_credits": float(np.mean([any("credit" in f.kinds for f in t) for t in truth])),
        "unfounded_credits_regex": float(np.mean([evaluation.credit_unfounded(r["output"], r["title"], r["reference"])
                                                 for r in rows])),
        "ends_whole": float(np.mean([sentences.ends_whole(r["output"]) for r in rows])),
        "stop_rate": float(np.mean([r["stopped"] for r in rows])) if rows and "stopped" in rows[0] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_dir", type=Path, help="a compare stage's folder of *_predictions.jsonl (outputs/eval)")
    parser.add_argument("--right", type=float, default=0.5,
                        help="ROUGE-L of the nearest description against the reference that makes it this product's")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    floor = load(args.eval_dir, "retrieval")
    if floor is None:
        sys.exit(f"{args.eval_dir}: no retrieval_predictions.jsonl (the nearest descriptions judge which copy is right)")
    right = {r["uid"]: r["rougeL"] >= args.right for r in floor}
    figures = {}
    print(f"{'system':<13} {'rows':>4} {'ROUGE-L':>7} {'copied':>6} {'wrong products':>14} {'wrong facts':>11} "
          f"{'numbers (plain)':>15} {'credits (facts / regex)':>23} {'ends whole':>10} {'stop rate':>9}")
    for name in SYSTEMS:
        rows = load(args.eval_dir, name)
        if rows is None:
            continue
        f = figures[name] = judged(rows, name, right)
        stop = "" if f["stop_rate"] is None else f"{f['stop_rate']:.1%}"
        print(f"{name:<13} {f['rows']:>4} {f['rougeL']:>7.4f} {f['copied']:>6} {f['wrong_products']:>14.1%} "
              f"{f['wrong_facts']:>11.1%} {f['wrong_numbers_plain']:>15.1%} {f['unfounded_credits']:>11.1%} / {f['unfounded_credits_regex']:<9.1%} "
              f"{f['ends_whole']:>10.1%} {stop:>9}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
