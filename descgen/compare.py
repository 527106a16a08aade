"""Stage 4: the fine-tuned model on the same rows with the same settings, the retrieval floor, and the deltas.

`outputs/eval/compare.json`:
    {"n": N, "models": {"baseline": {...}, "finetuned": {...}, "retrieval": {...}, "baseline_rag": {...}},
     "delta": {"rougeL": {"mean": x, "ci_low": y, "ci_high": z}, ...},       fine-tuned − baseline
     "delta_vs_retrieval": {"rougeL": {...}, ...},                           fine-tuned − the floor
     "vs_baseline": {system: {"rougeL": {...}, ...}}, "vs_retrieval": {...},  every system, alike
     "by_novelty": {"near_copy": {"n": N, "models": {...}}, "novel": {...}, "threshold_rougeL": t}, ...}
with paired-bootstrap 95 % CIs over the test rows. `baseline_rag` (the base model shown the same retrieval.k
neighbours as the fine-tune) is there only when retrieval.k > 0. The novelty split puts a test row in `near_copy`
when the floor's copied description already scores eval.near_copy_rougeL against its reference: there the
gain comes from copying a sibling; in `novel`, from writing for a new product.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from dataclasses import dataclass, field
from typing import Callable

from . import config, distributed, local_models, model_card, stages
from . import gate as gate_module
from .config import Config
from .evaluation import (ROUGE_KEYS, SYSTEMS, judged_rows, paired_bootstrap, perplexity, retrieval_floor,
                         score_model, score_rows, summarize)
from .copyedit import written_for
from .facts import row_sources
from .io import read_json, read_jsonl
from .predictor import Predictor

MODELS = ("baseline", "finetuned", "retrieval")


@dataclass
class Inputs:
    """What the systems' text sources read: the config, the held-out rows, the baseline's texts (stage 2), the
    predictor (base model + fine-tune + gate) and the texts made so far, in SYSTEM_TABLE's order."""
    cfg: Config
    rows: list[dict]
    validation: list[dict]
    baseline_metrics: dict
    baseline_rows: list[dict]
    predictor: Predictor
    prompted: list[dict] = field(default_factory=list)  # the test rows with the neighbours the fine-tune is shown
    scored: dict[str, list[dict]] = field(default_factory=dict)
    generation_s: dict[str, float] = field(default_factory=dict)
    alternatives: dict[str, list[dict]] = field(default_factory=dict)  # `alternatives`: both texts a gate weighs


@dataclass(frozen=True)
class System:
    """One system compare judges: its name, where its texts come from (a function of the inputs returning one scored
    row per test row, in order), and the systems it is compared with beyond the baseline and the floor (every system
    gets those two): `<name>_vs` in compare.json, a paired-bootstrap CI of the ROUGE-L difference against each."""
    name: str
    texts: Callable[[Inputs, str], list[dict]]
    vs: tuple[str, ...] = ()
    needs_neighbours: bool = False  # only when retrieval.k > 0


def baseline_texts(inputs: Inputs, name: str) -> list[dict]:
    """Stage 2's texts: the base model on the plain prompt, as users would meet it."""
    inputs.generation_s[name] = inputs.baseline_metrics["generation_s"]
    return inputs.baseline_rows


def generated_texts(base: bool):
    """The predictor's texts for the prompted test rows, the fine-tune's (`base` False) or the base model's shown the
    same neighbours; written as `{name}_predictions` / `_metrics`."""
    def texts(inputs: Inputs, name: str) -> list[dict]:
        metrics, scored = score_model(inputs.predictor, inputs.prompted, name, base=base)
        inputs.generation_s[name] = metrics["generation_s"]
        return scored
    return texts


def floor_texts(inputs: Inputs, name: str) -> list[dict]:
    """The retrieval floor: each row's nearest catalogue description, copied as it is, on every row that has one. A
    copy: only this product's title states its facts (the row it copies is another product); a wrong product where
    it scores below eval.near_copy_rougeL against the row's own."""
    neighbours = retrieval_floor(inputs.predictor.neighbour_source, inputs.rows, split="test")
    scored = score_rows(inputs.rows, [n["content"] for n in neighbours], None, None)
    for item, neighbour in zip(scored, neighbours):
        item["neighbour_title"] = neighbour["title"]
        mark_copy(item, neighbour["uid"] is not None, item["rougeL"], inputs.cfg.eval.near_copy_rougeL)
    return scored


def mark_copy(item: dict, copied: bool, plain_rougeL: float, threshold: float) -> None:
    """A scored row's copy record: whether its text is a copy, the copied description's ROUGE-L as it was (plain)
    against the row's own, and whether that makes it another product's text."""
    item["copied"] = copied
    item["plain_rougeL"] = plain_rougeL if copied else None
    item["wrong_product"] = copied and plain_rougeL < threshold


def gated_texts(inputs: Inputs, name: str) -> list[dict]:
    """The shipped system: the gate fitted for this fine-tune (Predictor.fit_gate: its write side from the
    validation rows), then predictor.answer per row, copied or written."""
    inputs.predictor.fit_gate(inputs.validation)
    answers = inputs.predictor.answer(inputs.rows, split="test", progress="generating gated (the rows it writes)")
    return gated_rows(inputs.rows, answers, inputs.scored["retrieval"], inputs.cfg.eval.near_copy_rougeL)


def oracle_texts(inputs: Inputs, name: str) -> list[dict]:
    return oracle_rows(inputs)


# Every system compare judges, in the order their texts are made (a later one may read an earlier one's). Adding a
# system is one entry here plus its text source; scores, CIs, novelty buckets, rows, TensorBoard and the model card
# read the result. evaluation.SYSTEMS orders them for display.
SYSTEM_TABLE = (
    System("baseline", baseline_texts),
    System("finetuned", generated_texts(base=False)),
    System("baseline_rag", generated_texts(base=True), needs_neighbours=True),
    System("retrieval", floor_texts),
    System("gated", gated_texts, vs=("finetuned", "retrieval", "oracle")),
    System("oracle", oracle_texts),
)


def systems(cfg: Config) -> tuple[System, ...]:
    return tuple(s for s in SYSTEM_TABLE if cfg.retrieval.k or not s.needs_neighbours)


def read_report(cfg: Config) -> dict:
    return read_json(stages.require(cfg, "compare_report"))


@distributed.across_processes("descgen.compare", "eval", read_report)
def run(cfg: Config) -> dict:
    """04_compare's steps: the inputs, each system's texts, their scores, the gate, the files. Writes compare.json
    (and the predictions, compare_rows, gate.json, the model card, TensorBoard). With eval.num_processes > 1 the
    generation runs in that many processes (`python -m descgen.compare` under accelerate), process 0 writing."""
    inputs = read_inputs(cfg)
    for system in systems(cfg):
        inputs.scored[system.name] = system.texts(inputs, system.name)

    report = build_report(cfg, inputs.scored)
    report["gate"] = gate_report(cfg, inputs)
    report["best"] = best_system(report, cfg.gate.min_precision)
    report["decoding"] = inputs.baseline_metrics["decoding"]  # judged_rows checked: the settings used now
    report["retrieval_k"] = cfg.retrieval.k
    report["generation_s"] = inputs.generation_s
    report["lora_weights"] = inputs.predictor.lora_weights  # the fine-tune from a merged copy or the adapter on top
    if distributed.is_main():  # process 0 alone writes (eval.num_processes > 1)
        write(cfg, inputs, report)
    return report


def read_inputs(cfg: Config) -> Inputs:
    """The test and validation rows, the baseline's texts (checked to be judged alike), the predictor with the
    fine-tune, and the test rows as the fine-tune is prompted: its k neighbours, cut to leave max_new_tokens."""
    rows, validation, baseline_metrics, baseline_rows = judged_rows(cfg)
    predictor = Predictor.load(cfg, adapter=True)
    return Inputs(cfg, rows, validation, baseline_metrics, baseline_rows, predictor,
                  prompted=predictor.prompted(rows, split="test"))


def write(cfg: Config, inputs: Inputs, report: dict) -> None:
    """compare's files, then the adapter's model card (which now carries this table) and TensorBoard's scalars."""
    scored = inputs.scored
    stages.write(cfg, {
        "retrieval_predictions": scored["retrieval"], "gated_predictions": scored["gated"],
        "gate": inputs.predictor.gate.to_json(),  # beside the adapter: describe's gate
        "compare_rows": side_by_side_rows(scored["baseline"], scored["finetuned"], scored["retrieval"], scored["gated"]),
        "compare_report": report})
    model_card.write(cfg)
    write_tensorboard(cfg, report)


def tensorboard_dir(cfg: Config):
    return cfg.outputs_dir / "tensorboard" / "compare"


def write_tensorboard(cfg: Config, report: dict) -> None:
    """The headline metrics as TensorBoard scalars (one point per system and metric) and the verdict as text, beside
    the training curves: `tensorboard --logdir outputs/tensorboard`."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(tensorboard_dir(cfg))) as writer:
        for name, metrics in report["models"].items():
            for key in ("rougeL", "rouge1", "stop_rate", "unsupported_rate", "wrong_fact_rate", "wrong_product_rate",
                    "whole_sentence_rate", "perplexity"):
                if key in metrics:
                    writer.add_scalar(f"compare/{key}/{name}", metrics[key], 0)
        writer.add_text("compare/verdict", json.dumps(report["verdict"]))


def gated_rows(rows: list[dict], answers: list, floor: list[dict], threshold: float) -> list[dict]:
    """The shipped system on the test rows (predictor.answer): each text scored, for unsupported facts against what
    may state them (a copy: this title and its family's facts; a written text: the title and the neighbours shown),
    with where it came from, the gate's p, and what was replaced and dropped to make it. A copy is the floor's
    description made this product's: it is another product's text where that description (`floor`) scores below
    `threshold`."""
    scored = score_rows([{**r, "neighbours": a.neighbours if a.source == "written" else []} for r, a in zip(rows, answers)],
                        [a.text for a in answers], None, None)
    for item, a, plain in zip(scored, answers, floor):
        item.update(source=a.source, copied_uid=a.copied_uid, similarity=a.similarity, p=a.p, swaps=a.swaps,
                    unsupported=a.unsupported, **a.edit.record(), marked=a.edit.marked())
        mark_copy(item, a.source == "copied", plain["rougeL"], threshold)
    return scored


def alternatives(inputs: Inputs) -> dict[str, list[dict]]:
    """Per test row, both texts a gate chooses between, as it would ship them, scored: the nearest description made
    this product's (`copy`; empty where no row shares a word) and the fine-tune's text cleared of what its sources do
    not state (`written`). What the oracle picks from and the test curve is drawn from; made once."""
    if "copy" not in inputs.alternatives:
        rows, threshold = inputs.rows, inputs.cfg.eval.near_copy_rougeL
        near = inputs.predictor.neighbour_source.nearest(rows, 1, "test")
        copies = [c.text if c is not None else "" for c in gate_module.copies(rows, near)]
        copy = score_rows(rows, copies, None, None)
        for item, plain, n in zip(copy, inputs.scored["retrieval"], near):
            mark_copy(item, bool(n), plain["rougeL"], threshold)
        shipped = [written_for(f["output"], p["title"]).text
                   for f, p in zip(inputs.scored["finetuned"], inputs.prompted)]
        inputs.alternatives.update(copy=copy, written=score_rows(inputs.prompted, shipped, None, None))
    return inputs.alternatives


def oracle_rows(inputs: Inputs) -> list[dict]:
    """The ceiling of any gate between these two: per row, the better of the nearest description as the gate would
    ship it and the fine-tune's text as the gate would ship it, judged against the reference (not a system: it reads
    the answer)."""
    both = alternatives(inputs)
    return [c if c["rougeL"] > w["rougeL"] else w for c, w in zip(both["copy"], both["written"])]


def gate_report(cfg: Config, inputs: Inputs) -> dict:
    """What the gate learnt and did: its fit (cross-validated on catalogue rows; calibration; the operating point of
    its precision promise), its check on validation, and on the test rows: precision and recall of copying with 95 %
    CIs (a copy is right where the nearest description scores eval.near_copy_rougeL against the row's own), the right
    copies' ROUGE-L as copied and as shipped (what the edits cost them), the precision–recall curve with the shipped
    system's ROUGE-L along it, the shipped system split by source, and what making the copies this product's changed."""
    gate, scored = inputs.predictor.gate, inputs.scored
    right = np.array([r["rougeL"] >= cfg.eval.near_copy_rougeL for r in scored["retrieval"]])
    copied = np.array([r["copied"] for r in scored["gated"]])
    found = gate_module.precision_recall(copied, right)
    kept = copied & right

    def mean_of(items: list[dict]) -> float | None:
        picked = [r["rougeL"] for r, k in zip(items, kept) if k]
        return float(np.mean(picked)) if picked else None

    return {**gate.to_json(), "copied_test_rows": int(copied.sum()), "test_rows": len(inputs.rows),
            "test_right_rows": int(right.sum()),
            "test_precision": found["precision"]["value"], "test_recall": found["recall"]["value"], "test": found,
            # the test rows the gate copied rightly: the nearest description as it was, and as the gate shipped it
            "right_copies": {"rows": int(kept.sum()), "plain_rougeL": mean_of(scored["retrieval"]),
                             "shipped_rougeL": mean_of(scored["gated"])},
            "test_curve": test_curve(gate, scored["gated"], alternatives(inputs), right),
            "by_source": by_source(scored["gated"]), "copy_edits": copy_edits(inputs.predictor, inputs.rows)}


def test_curve(gate, gated: list[dict], both: dict, right: np.ndarray) -> list[dict]:
    """On the test rows, at each probability the gate could copy above: the rows copied, their precision, the recall
    of the right copies, and the ROUGE-L the shipped system would score (a copy as the gate ships it, else the
    fine-tune's text as shipped): the trade-off a shop picks from, the gate's own threshold among the points."""
    p = np.array([r["p"] if r["p"] is not None else -1.0 for r in gated])
    usable = np.array([bool(c["output"]) for c in both["copy"]])
    copy_scores = np.array([c["rougeL"] for c in both["copy"]])
    write_scores = np.array([w["rougeL"] for w in both["written"]])
    curve = []
    for t in sorted({float(x) for x in p[p >= 0]} | {min(gate.threshold, 1.0)}, reverse=True):
        copy = (p >= t) & usable
        curve.append({"threshold": t, "copied": int(copy.sum()),
                      "precision": float(right[copy].mean()) if copy.any() else None,
                      "recall": float(copy[right].mean()) if right.any() else None,
                      "rougeL": float(np.where(copy, copy_scores, write_scores).mean())})
    return gate_module.thin(curve)


def by_source(gated: list[dict]) -> dict:
    """The shipped system's copied and written rows apart: how many, their ROUGE-L, their unsupported-facts rate, and
    the share whose text had a fact replaced or dropped."""
    out = {}
    for source in ("copied", "written"):
        items = [r for r in gated if r["source"] == source]
        out[source] = {"n": len(items), **({"rougeL": float(np.mean([r["rougeL"] for r in items])),
                                            "unsupported_rate": float(np.mean([bool(r["unsupported"]) for r in items])),
                                            "wrong_product_rate": float(np.mean([r["wrong_product"] for r in items])),
                                            "wrong_fact_rate": float(np.mean([bool(r["wrong_facts"]) for r in items])),
                                            "whole_sentence_rate": float(np.mean([r["ends_whole"] for r in items])),
                                            "replaced_share": float(np.mean([bool(r["replaced"]) for r in items])),
                                            "dropped_share": float(np.mean([bool(r["dropped"]) for r in items]))}
                                           if items else {})}
    return out


def copy_edits(predictor: Predictor, rows: list[dict]) -> dict:
    """What making a copy this product's does, on every test row's nearest description (copied or not): the plain
    copy (the floor) against the shipped one, on all rows and on the rows it changed: ROUGE-L and the share stating a
    fact of the copied product's own (its title states it, this product's title does not)."""
    from .evaluation import rouge_scores
    from .facts import unsupported

    near = predictor.neighbour_source.nearest(rows, 1, "test")
    present = [i for i, n in enumerate(near) if n]
    plain = {i: near[i][0]["content"] for i in present}
    shipped = dict(zip(present, gate_module.copies([rows[i] for i in present], [near[i] for i in present])))

    def measure(picked: list[int], texts: dict) -> dict:
        if not picked:
            return {"rougeL": None, "unsupported_rate": None}
        scores = rouge_scores([texts[i] for i in picked], [rows[i]["content"] for i in picked])
        return {"rougeL": float(np.mean([s["rougeL"] for s in scores])),
                "unsupported_rate": float(np.mean([bool(unsupported(texts[i], [rows[i]["title"]], own=[near[i][0]["title"]]))
                                                   for i in picked]))}

    changed = [i for i in present if shipped[i].edited]
    shipped_text = {i: c.text for i, c in shipped.items()}
    return {"rows": len(present), "rows_changed": len(changed),
            "rows_swapped": sum(shipped[i].swaps > 0 for i in present),
            "rows_fact_replaced": sum(shipped[i].facts_replaced > 0 for i in present),
            "rows_dropped": sum(bool(shipped[i].dropped) for i in present),
            "plain_copy": measure(present, plain), "shipped_copy": measure(present, shipped_text),
            "changed_rows": {"plain_copy": measure(changed, plain), "shipped_copy": measure(changed, shipped_text)}}


def best_system(report: dict, min_precision: float) -> dict:
    """The best system users can get: the highest ROUGE-L among those that keep the precision promise (a system that
    copies must have its copies be this product's text at least `min_precision` of the time; the floor copies every
    row, so it seldom does). The oracle reads the answers, so it is none. With its CI against the floor."""
    def keeps(name: str) -> bool:
        precision = report["models"][name].get("copy_precision")
        return precision is None or precision >= min_precision

    shipped = [n for n in SYSTEMS if n in report["models"] and n != "oracle" and keeps(n)]
    name = max(shipped, key=lambda n: report["models"][n]["rougeL"])
    models = report["models"][name]
    return {"name": name, "rougeL": models["rougeL"], "wrong_product_rate": models.get("wrong_product_rate"),
            "wrong_fact_rate": models.get("wrong_fact_rate"), "min_precision": min_precision,
            "vs_retrieval": report["vs_retrieval"].get(name, {}).get("rougeL")}


def build_report(cfg: Config, scored: dict[str, list[dict]]) -> dict:
    n = len(scored["baseline"])
    uids = [r["uid"] for r in scored["baseline"]]
    for name, rows in scored.items():
        if [r["uid"] for r in rows] != uids:
            raise ValueError(f"{name} predictions are not on the same rows as the baseline")
    report = {"n": n, "models": {name: summarize(rows) for name, rows in scored.items()}, "delta": {},
              "delta_vs_retrieval": {}}
    samples, seed = cfg.eval.bootstrap_samples, cfg.eval.seed

    def column(name: str, key: str) -> np.ndarray:
        if key == "has_unsupported":
            return np.array([float(bool(r["unsupported"])) for r in scored[name]])
        return np.array([float(r[key]) for r in scored[name]])

    for key in ROUGE_KEYS + ("repetition", "length_words"):
        report["delta"][key] = paired_bootstrap(column("baseline", key), column("finetuned", key), samples, seed)
    report["delta"]["unsupported_rate"] = paired_bootstrap(column("baseline", "has_unsupported"),
                                                           column("finetuned", "has_unsupported"), samples, seed)
    report["delta"]["stop_rate"] = paired_bootstrap(column("baseline", "stopped"), column("finetuned", "stopped"),
                                                    samples, seed)
    report["delta"]["perplexity"] = paired_bootstrap(column("baseline", "nll"), column("finetuned", "nll"),
                                                     samples, seed, statistic=lambda x: perplexity(x))
    for key in ROUGE_KEYS:
        report["delta_vs_retrieval"][key] = paired_bootstrap(column("retrieval", key), column("finetuned", key),
                                                             samples, seed)
    # every system against the two references, alike (ROUGE: the floor has no perplexity nor stop rate)
    report["vs_baseline"] = {name: {key: paired_bootstrap(column("baseline", key), column(name, key), samples, seed)
                                    for key in ROUGE_KEYS} for name in scored if name != "baseline"}
    report["vs_retrieval"] = {name: {key: paired_bootstrap(column("retrieval", key), column(name, key), samples,
                                                           seed) for key in ROUGE_KEYS}
                              for name in scored if name != "retrieval"}
    for system in SYSTEM_TABLE:  # what a system declares it is compared with (the gate: what it chooses between)
        if system.vs and system.name in scored:
            report[f"{system.name}_vs"] = {name: paired_bootstrap(column(name, "rougeL"), column(system.name, "rougeL"),
                                                                  samples, seed) for name in system.vs if name in scored}
    report["by_novelty"] = novelty_split(cfg, scored)
    report["verdict"] = verdict(report)
    return report


def novelty_split(cfg: Config, scored: dict[str, list[dict]]) -> dict:
    """Every system's metrics on the near-copy rows (the floor's copied description already scores
    eval.near_copy_rougeL against the reference) and on the novel rest, with the fine-tune's ROUGE-L delta against
    the baseline and the floor in each."""
    threshold = cfg.eval.near_copy_rougeL
    near = np.array([r["rougeL"] >= threshold for r in scored["retrieval"]])
    split = {"threshold_rougeL": threshold}
    for bucket, mask in (("near_copy", near), ("novel", ~near)):
        rows = {name: [r for r, keep in zip(items, mask) if keep] for name, items in scored.items()}
        entry = {"n": int(mask.sum()), "models": {name: summarize(items) for name, items in rows.items() if items}}
        if mask.sum() >= 2:
            finetuned = np.array([r["rougeL"] for r in rows["finetuned"]])
            entry["finetuned_vs_baseline_rougeL"] = paired_bootstrap(
                np.array([r["rougeL"] for r in rows["baseline"]]), finetuned, cfg.eval.bootstrap_samples, cfg.eval.seed)
            entry["finetuned_vs_retrieval_rougeL"] = paired_bootstrap(
                np.array([r["rougeL"] for r in rows["retrieval"]]), finetuned, cfg.eval.bootstrap_samples, cfg.eval.seed)
        split[bucket] = entry
    return split


def verdict(report: dict) -> dict:
    """Plain answers, decided by the CI: does the fine-tune beat the baseline and the retrieval floor?"""
    def call(ci: dict) -> str:
        if ci["ci_low"] > 0:
            return "better"
        if ci["ci_high"] < 0:
            return "worse"
        return "no significant difference"

    found = {"vs_baseline_rougeL": call(report["delta"]["rougeL"]),
             "vs_retrieval_rougeL": call(report["delta_vs_retrieval"]["rougeL"])}
    if "gated" in report.get("vs_retrieval", {}):
        found["gated_vs_retrieval_rougeL"] = call(report["vs_retrieval"]["gated"]["rougeL"])
    if "finetuned" in report.get("gated_vs", {}):
        found["gated_vs_finetuned_rougeL"] = call(report["gated_vs"]["finetuned"])
    return found


def side_by_side_rows(baseline: list[dict], finetuned: list[dict], retrieval: list[dict],
                      gated: list[dict]) -> list[dict]:
    return [{"uid": b["uid"], "title": b["title"], "reference": b["reference"],
             "baseline": b["output"], "finetuned": f["output"], "retrieval": r["output"], "gated": g["output"],
             "rougeL_baseline": b["rougeL"], "rougeL_finetuned": f["rougeL"], "rougeL_retrieval": r["rougeL"],
             "rougeL_gated": g["rougeL"],
             "rougeL_delta": f["rougeL"] - b["rougeL"], "rougeL_vs_retrieval": f["rougeL"] - r["rougeL"],
             "floor_neighbour": r.get("neighbour_title", ""),
             "neighbours_shown": " | ".join(n["title"] for n in f.get("neighbours", ())),
             # the shipped answer: copied or written, and what was replaced and dropped to make it this product's
             "gated_source": g["source"], "gated_p": g["p"], "gated_wrong_product": g["wrong_product"],
             "gated_replaced": g["replaced"], "gated_dropped": g["dropped"], "gated_unsupported": g["unsupported"],
             # judged by the truth: the facts neither the title nor the reference states
             "gated_wrong_facts": g["wrong_facts"], "finetuned_wrong_facts": f["wrong_facts"]}
            for b, f, r, g in zip(baseline, finetuned, retrieval, gated)]


# ------------------------------------------------------------------------------------------ notebook helpers
def headline_table(report: dict):
    """metric × model, with the fine-tuned − baseline delta and its 95 % CI."""
    import pandas as pd

    keys = ("rouge1", "rouge2", "rougeL", "wrong_product_rate", "wrong_fact_rate", "whole_sentence_rate",
            "unfounded_credit_rate", "unfounded_credit_rate_plain", "unstated_number_rate_plain", "perplexity",
            "stop_rate", "repetition", "length_words", "unsupported_rate")
    names = [n for n in SYSTEMS if n in report["models"]]
    table = pd.DataFrame({name: {k: report["models"][name].get(k, np.nan) for k in keys} for name in names})
    delta = report["delta"]
    table["delta (ft − base)"] = [delta[k]["mean"] if k in delta else np.nan for k in keys]
    table["95% CI"] = [f"[{delta[k]['ci_low']:+.4f}, {delta[k]['ci_high']:+.4f}]" if k in delta else "" for k in keys]
    return table.round(4)


def gate_table(report: dict):
    """The gate in numbers: what it learnt from (catalogue rows, cross-validated), the operating point of its precision
    promise, its check on validation and on the test rows (precision, recall, share copied, with 95 % CIs), the right
    copies as copied and as shipped, gated against the fine-tune, the floor and the oracle, and what making a copy
    this product's changed."""
    import pandas as pd

    gate, report_gate = report["gate"], report["gate"]["report"]
    validation = report_gate.get("validation", {})

    def ci(d: dict | None) -> str:
        return "" if d is None else f"{d['mean']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"

    def share(d: dict | None) -> str:
        if not d or d.get("value") is None:
            return "—"
        return f"{d['value']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}] ({d['hits']} of {d['n']})"

    edits, right = gate["copy_edits"], gate["right_copies"]
    point = report_gate.get("operating_point", {})

    def number(value) -> str:
        return "—" if value is None else f"{value:.4f}"

    items = {
        "labelled catalogue rows (a copy's ROUGE-L, no generation)": report_gate.get("labelled_rows"),
        "share of them whose nearest description is their product's text": report_gate.get("right_share"),
        "cross-validated AUC / log-loss": f"{report_gate.get('cv_auc', float('nan')):.3f} / "
                                          f"{report_gate.get('cv_log_loss', float('nan')):.3f}",
        "the promise: copies right at least": f"{gate['min_precision']:.0%} of the time",
        "its operating point (cross-validated): p from, precision, recall":
            f"{gate['precision_threshold']:.3f}, {point.get('precision')}, {point.get('recall')}",
        "copy when p is at least (the promise, or the expected-score rule if higher)":
            f"{gate['threshold']:.3f} (promise {gate['precision_threshold']:.3f}, score rule {gate['score_threshold']:.3f})",
        "expected copy score if right / not": f"{gate['copy_right']:.3f} / {gate['copy_wrong']:.3f}",
        "expected written score if right / not": f"{gate['write_right']:.3f} / {gate['write_wrong']:.3f}",
        "validation: precision (95% CI)": share(validation.get("precision")),
        "validation: recall (95% CI)": share(validation.get("recall")),
        "validation: gated / written / copied / oracle ROUGE-L":
            f"{validation.get('gated_rougeL', 0):.4f} / {validation.get('written_rougeL', 0):.4f} / "
            f"{validation.get('copied_rougeL', 0):.4f} / {validation.get('oracle_rougeL', 0):.4f}",
        "test: precision (95% CI)": share(gate["test"]["precision"]),
        "test: recall (95% CI)": share(gate["test"]["recall"]),
        "test: share copied (95% CI)": share(gate["test"]["copied_share"]),
        "test: right copies, ROUGE-L as copied → as shipped":
            f"{right['rows']} rows: {number(right['plain_rougeL'])} → {number(right['shipped_rougeL'])}",
        "gated − fine-tuned (ROUGE-L, 95% CI)": ci(report.get("gated_vs", {}).get("finetuned")),
        "gated − floor": ci(report.get("gated_vs", {}).get("retrieval")),
        "gated − oracle": ci(report.get("gated_vs", {}).get("oracle")),
        **edit_items(edits),
    }
    return pd.DataFrame({"value": [str(v) for v in items.values()]}, index=list(items))


def edit_items(edits: dict) -> dict:
    """gate_table's lines on what making the nearest descriptions this product's changed."""
    def pair(d: dict) -> str:
        return "—" if d["rougeL"] is None else f"{d['rougeL']:.4f}, {d['unsupported_rate']:.3f}"

    return {"nearest descriptions made this product's: changed / variant swapped / fact replaced / dropped":
            f"{edits['rows_changed']} / {edits['rows_swapped']} / {edits['rows_fact_replaced']} / "
            f"{edits['rows_dropped']} of {edits['rows']}",
            "plain copy (the floor): ROUGE-L, a fact of the copied product's own": pair(edits["plain_copy"]),
            "shipped copy: ROUGE-L, a fact of the copied product's own": pair(edits["shipped_copy"]),
            "on the changed rows, plain → shipped": f"{pair(edits['changed_rows']['plain_copy'])} → "
                                                   f"{pair(edits['changed_rows']['shipped_copy'])}"}


def plot_precision_recall(report: dict):
    """The trade-off a shop picks from: the gate's precision against its recall as its threshold moves, on the
    catalogue's cross-validated labels (what the operating point was chosen on) and on the test rows, the shipped
    system's ROUGE-L along the test curve, the promise and the gate's point marked."""
    import matplotlib.pyplot as plt

    gate = report["gate"]
    cv, test = gate["report"].get("cv_curve", []), [c for c in gate["test_curve"] if c["precision"] is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    if cv:
        left.plot([c["recall"] for c in cv], [c["precision"] for c in cv], label="catalogue (5-fold)")
    if test:
        left.plot([c["recall"] for c in test], [c["precision"] for c in test], "o-", ms=3, label="test rows")
    left.axhline(gate["min_precision"], color="red", ls=":", label=f"promise: precision {gate['min_precision']:.0%}")
    if gate["test_recall"] is not None and gate["test_precision"] is not None:
        left.scatter([gate["test_recall"]], [gate["test_precision"]], s=80, c="k", zorder=5, label="the gate (test)")
    left.set_xlabel("recall (right copies found)")
    left.set_ylabel("precision (copies that are this product's text)")
    left.set_ylim(0, 1.02)
    left.legend(loc="lower left", fontsize=8)
    curve = [c for c in gate["test_curve"] if c["recall"] is not None]
    if curve:  # the same thresholds, by the recall they give: what the shipped text scores along the curve
        right.plot([c["recall"] for c in curve], [c["rougeL"] for c in curve], "o-", ms=3, color="C1")
        point = min(curve, key=lambda c: abs(c["threshold"] - min(gate["threshold"], 1.0)))
        right.scatter([point["recall"]], [point["rougeL"]], s=80, c="k", zorder=5,
                      label=f"the gate: copies at p >= {gate['threshold']:.2f}")
        right.legend(fontsize=8)
    right.set_xlabel("recall (right copies found)")
    right.set_ylabel("shipped ROUGE-L on the test rows")
    fig.tight_layout()
    return fig


def readable(frame, width: str = "32em"):
    """A table of texts that reads: long text columns wrap at `width`, none squeezed to one word a line (a pandas
    Styler: the notebook's HTML copy keeps it)."""
    texts = [c for c in frame.columns if frame[c].dtype == object]
    return (frame.style.format(precision=4)
            .set_properties(subset=texts, **{"white-space": "normal", "min-width": "14em", "max-width": width,
                                             # Jupyter's table CSS right-aligns cells with !important
                                             "text-align": "left !important", "vertical-align": "top"}))


def source_table(report: dict):
    """The shipped system's copied and written test rows apart: count, ROUGE-L, the share stating a fact their sources
    do not (a copy: its own title; a written text: the title and the neighbours shown), and the share whose text had
    a fact replaced by the title's or dropped."""
    import pandas as pd

    split = report["gate"]["by_source"]
    return pd.DataFrame({source: {"rows": part["n"], "ROUGE-L": part.get("rougeL", np.nan),
                                  "wrong products": part.get("wrong_product_rate", np.nan),
                                  "wrong facts": part.get("wrong_fact_rate", np.nan),
                                  "ends whole": part.get("whole_sentence_rate", np.nan),
                                  "unsupported by its sources": part.get("unsupported_rate", np.nan),
                                  "a fact replaced": part.get("replaced_share", np.nan),
                                  "a sentence or words dropped": part.get("dropped_share", np.nan)}
                         for source, part in split.items()}).T.round(4)


def copied_examples(cfg: Config, k: int = 5) -> list[dict]:
    """k copied test rows whose copy was changed (most edits first), each with its copy marked: the words replaced
    (the title's value, or this variant's words) and the text dropped for stating what the title does not."""
    references = {r["uid"]: r["content"] for r in stages.read_split(cfg, "test")}
    copied = [r for r in read_jsonl(stages.require(cfg, "gated_predictions")) if r["copied"] and (r["replaced"] or r["dropped"])]
    picked = sorted(copied, key=lambda r: (-(len(r["replaced"]) + len(r["dropped"])), r["uid"]))[:k]
    return [{"title": r["title"], "copied_uid": r["copied_uid"], "marked": [tuple(p) for p in r["marked"]],
             "text": r["output"], "reference": references[r["uid"]], "rougeL": r["rougeL"]} for r in picked]


def marked_html(pieces: list[tuple[str, str | None]]) -> str:
    """A copy's edit as HTML: replaced words on green, dropped text struck through on red."""
    import html

    style = {"replaced": "background:#c8f0c8", "dropped": "background:#f8c8c8;text-decoration:line-through"}
    return "".join(f'<span style="{style[label]}">{html.escape(text)}</span>' if label else html.escape(text)
                   for text, label in pieces)


def plot_calibration(report: dict):
    """The gate's cross-validated probability against how often the nearest description did fit, per bin: on the
    diagonal, its p can be read as a chance (the decision weighs p against the threshold)."""
    import matplotlib.pyplot as plt

    bins = report["gate"]["report"].get("calibration", [])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    if bins:
        ax.scatter([b["predicted"] for b in bins], [b["observed"] for b in bins], s=[10 + b["rows"] ** 0.5 * 4 for b in bins])
    ax.axvline(min(report["gate"]["threshold"], 1.0), color="red", ls=":", label="copy at p at least this")
    ax.set_xlabel("predicted P(the nearest description fits)")
    ax.set_ylabel("observed share that fits")
    ax.set_title("gate calibration (5-fold, catalogue rows)")
    ax.legend()
    fig.tight_layout()
    return fig


def novelty_table(report: dict):
    """ROUGE-L per system in each novelty bucket: where a gain comes from (copying a sibling, or writing anew)."""
    import pandas as pd

    split = report["by_novelty"]
    buckets = ("near_copy", "novel")
    names = [n for n in SYSTEMS if n in report["models"]]
    table = pd.DataFrame({f"{b} (n={split[b]['n']})": [split[b]["models"].get(n, {}).get("rougeL", np.nan)
                                                       for n in names] for b in buckets}, index=names)
    return table.round(4)


def plot_floor_scores(rows: list[dict], threshold: float):
    """How well copying the nearest training row's description does, per test row, and the near-copy threshold."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.hist([r["rougeL_retrieval"] for r in rows], bins=np.linspace(0, 1, 41))
    ax.axvline(threshold, color="red", ls="--", label=f"near copy at ROUGE-L >= {threshold}")
    ax.set_xlabel("ROUGE-L of the floor's copied description")
    ax.set_ylabel("test rows")
    ax.legend()
    fig.tight_layout()
    return fig


def floor_extremes(rows: list[dict], k: int = 5):
    """The k rows where the fine-tune beat the retrieval floor the most, and the k where it lost the most, with the
    floor's neighbour and the neighbours the fine-tune was shown."""
    import pandas as pd

    frame = pd.DataFrame(rows).sort_values("rougeL_vs_retrieval")
    columns = ["title", "reference", "finetuned", "retrieval", "floor_neighbour", "neighbours_shown",
               "rougeL_finetuned", "rougeL_retrieval", "rougeL_vs_retrieval"]
    return frame[columns].tail(k).iloc[::-1], frame[columns].head(k)


def extremes(rows: list[dict], k: int = 5):
    """The k most improved and k most worsened examples (fine-tuned − baseline ROUGE-L)."""
    import pandas as pd

    frame = pd.DataFrame(rows).sort_values("rougeL_delta")
    columns = ["title", "reference", "baseline", "finetuned", "rougeL_baseline", "rougeL_finetuned", "rougeL_delta"]
    return frame[columns].tail(k).iloc[::-1], frame[columns].head(k)


def plot_rouge_scatter(rows: list[dict]):
    import matplotlib.pyplot as plt

    before = [r["rougeL_baseline"] for r in rows]
    after = [r["rougeL_finetuned"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 5))
    top = max(before + after + [0.05]) * 1.05
    ax.scatter(before, after, s=12, alpha=0.6)
    ax.plot([0, top], [0, top], "k--", lw=1)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("baseline ROUGE-L")
    ax.set_ylabel("fine-tuned ROUGE-L")
    ax.set_title("per example: above the line = improved")
    fig.tight_layout()
    return fig


def plot_lengths(scored: dict[str, list[dict]]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    reference = [len(r["reference"].split()) for r in scored["baseline"]]
    bins = np.linspace(0, max(reference + [r["length_words"] for rows in scored.values() for r in rows]) + 1, 30)
    ax.hist(reference, bins=bins, histtype="step", lw=2, label="reference")
    for name in ("baseline", "finetuned"):
        ax.hist([r["length_words"] for r in scored[name]], bins=bins, histtype="step", label=name)
    ax.set_xlabel("words")
    ax.set_ylabel("examples")
    ax.legend()
    fig.tight_layout()
    return fig


def load_scored(cfg: Config) -> dict[str, list[dict]]:
    return {name: read_jsonl(stages.require(cfg, f"{name}_predictions")) for name in MODELS}


def verdict_text(report: dict) -> str:
    """The conclusion in words, from the CIs (markdown)."""
    d, r = report["delta"]["rougeL"], report["delta_vs_retrieval"]["rougeL"]
    models = report["models"]
    words = {"better": "**beats**", "worse": "**is worse than**", "no significant difference": "**does not differ from**"}
    v = report["verdict"]
    return (
        f"On {report['n']} test rows, the fine-tuned model {words[v['vs_baseline_rougeL']]} the baseline on ROUGE-L "
        f"({models['finetuned']['rougeL']:.4f} vs {models['baseline']['rougeL']:.4f}; delta {d['mean']:+.4f}, "
        f"95% CI [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]) and {words[v['vs_retrieval_rougeL']]} the retrieval floor "
        f"(copy the nearest training title's description: {models['retrieval']['rougeL']:.4f}; delta {r['mean']:+.4f}, "
        f"95% CI [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]). Stop rate {models['baseline']['stop_rate']:.0%} → "
        f"{models['finetuned']['stop_rate']:.0%}; repetition {models['baseline']['repetition']:.3f} → "
        f"{models['finetuned']['repetition']:.3f}."
    )


def read_side_by_side(cfg: Config) -> list[dict]:
    return read_jsonl(stages.require(cfg, "compare_rows"))


@stages.command("compare")
def main(argv: list[str] | None = None) -> int:
    cfg = config.from_command_line("python -m descgen.compare", "Score the fine-tuned model and the retrieval "
                                   "floor against the baseline (stage 4), as 04_compare does.", argv)
    local_models.ensure_for(cfg)
    report = run(cfg)
    if distributed.is_main():
        print(json.dumps({"rougeL": {name: round(m["rougeL"], 4) for name, m in report["models"].items()},
                          "verdict": report["verdict"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
