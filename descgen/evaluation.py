"""Scoring shared by 02_baseline and 04_compare: ROUGE, perplexity, stop rate, repetition, paired bootstrap CIs and
the retrieval floor. All offline (rouge_score, not evaluate.load). Texts and reference NLLs come from the predictor."""

from __future__ import annotations

import functools
import math
import re
import time

import numpy as np

from . import distributed, sentences, stages
from .config import Config
from .facts import row_sources, truth_sources, unsupported, unsupported_facts
from .io import read_json, read_jsonl

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")
# compare's systems, in the order every table shows them; `oracle` reads the answers (a ceiling, not a system)
SYSTEMS = ("baseline", "baseline_rag", "finetuned", "retrieval", "gated", "oracle")
METRIC_KEYS = ROUGE_KEYS + ("perplexity", "stop_rate", "repetition", "length_words", "unsupported_rate",
                            "wrong_fact_rate", "wrong_product_rate", "whole_sentence_rate")
# settings that must be identical for two models' outputs to be compared
DECODING_KEYS = ("max_new_tokens", "do_sample", "temperature", "top_p", "no_repeat_ngram_size", "no_repeat_ngram_scope",
                 "repetition_penalty")


# ------------------------------------------------------------------------------------------ text metrics
def rouge_scores(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """Per-example ROUGE-1/2/L F1 with Porter stemming (rouge_score's scorer and tokens: `_scorer`)."""
    scorer = _scorer()
    return [{k: s.fmeasure for k, s in scorer.score(ref, pred).items()}
            for pred, ref in zip(predictions, references)]


@functools.lru_cache(maxsize=1)
def _scorer():
    """rouge_score's scorer with its own tokenizer and Porter stemmer, each text's tokens and each word's stem kept:
    the same tokens, so the same scores (tests/test_evaluation.py), at a fraction of the cost. Stemming was 2/3 of a
    score, and a text is scored many times (a reference against every system; the gate's ~2,000 catalogue labels,
    each scored as copied and as shipped: 17 s of the cpu profile's gate fit, ~2 s with the stems kept)."""
    from rouge_score import rouge_scorer, tokenize, tokenizers

    class KeptTokens(tokenizers.DefaultTokenizer):
        def __init__(self):
            super().__init__(use_stemmer=True)
            stem = functools.lru_cache(maxsize=1 << 17)(self._stemmer.stem)
            self._stemmer = type("KeptStems", (), {"stem": staticmethod(stem)})()
            self._tokens = functools.lru_cache(maxsize=1 << 14)(lambda text: tuple(tokenize.tokenize(text, self._stemmer)))

        def tokenize(self, text):
            return list(self._tokens(text))

    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), tokenizer=KeptTokens())


def repetition_rate(text: str, n: int = 4) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for fresh text, near 1 for a loop."""
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


# ------------------------------------------------------------------------------------------ one model on the test split
# A plain judge of credited praise, written apart from descgen/facts.py (which the shipped texts are cleaned by): a
# "— Source" / "- Source" after a sentence or a quote, the source's capitalised words. A credit whose source's words
# neither the title nor the reference states is praise no one gave.
_PLAIN_CREDIT = re.compile(r"(?:^|[.!?\"”’']\s*)[—–-]{1,2}\s*([A-Z][A-Za-z&'’]*(?:\s+(?:of|the|and|&|[A-Z][A-Za-z&'’]*))*)")


def plain_credits(text: str) -> list[str]:
    """The sources of the "— Source" credits of `text`, by the plain regex above."""
    return [m.group(1) for m in _PLAIN_CREDIT.finditer(text)]


def credit_unfounded(text: str, title: str, reference: str) -> bool:
    """Whether `text` credits praise ("— Source") to a source whose words neither its title nor its reference state
    (the plain judge)."""
    stated = set(re.findall(r"[a-z0-9]+", f"{title} {reference}".lower()))
    return any(not set(re.findall(r"[a-z0-9]+", source.lower())) - {"of", "the", "and"} <= stated
               for source in plain_credits(text))


# A plain judge of numbers, apart from facts.py as well: a number (digits, thousands separators dropped) that neither
# the title nor the reference states is a size, count, year or spec the product's real description does not give.
_PLAIN_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def plain_numbers(text: str) -> set[str]:
    return {m.group(0).replace(",", "") for m in _PLAIN_NUMBER.finditer(text)}


def number_unstated(text: str, title: str, reference: str) -> bool:
    """Whether `text` states a number neither its title nor its reference states (the plain judge)."""
    return bool(plain_numbers(text) - plain_numbers(f"{title} {reference}"))


def score_rows(rows: list[dict], outputs: list[str], stopped: list[bool] | None, nll: list[float] | None) -> list[dict]:
    """Each text scored against its row's reference: ROUGE, repetition, length; the facts its sources do not state
    (`unsupported`: the title and the neighbours shown, as the text's maker had them) and the facts neither the title
    nor the reference states (`wrong_facts`: how a reviewer holding the real description judges it), the credits
    among them (facts.py's and the plain judge's), and whether it ends with a whole sentence."""
    scored = []
    rouge = rouge_scores(outputs, [r["content"] for r in rows])
    for i, (row, text) in enumerate(zip(rows, outputs)):
        truth = [f for f in unsupported_facts(text, truth_sources(row))]
        item = {"uid": row["uid"], "title": row["title"], "reference": row["content"], "output": text,
                **rouge[i], "repetition": repetition_rate(text), "length_words": len(text.split()),
                # numbers, units, sizes, names, credits stated by neither the title nor a neighbour shown (facts.py)
                "unsupported": unsupported(text, row_sources(row), vouch=[row["title"]]),
                "wrong_facts": list(dict.fromkeys(f.written for f in truth)),
                "unfounded_credit": any("credit" in f.kinds for f in truth),
                "unfounded_credit_plain": credit_unfounded(text, row["title"], row["content"]),
                "unstated_number_plain": number_unstated(text, row["title"], row["content"]),
                "ends_whole": sentences.ends_whole(text),
                "copied": False, "wrong_product": False}
        if row.get("neighbours"):
            item["neighbours"] = [{"uid": n["uid"], "title": n["title"], "similarity": n["similarity"]}
                                  for n in row["neighbours"]]
        if stopped is not None:
            item["stopped"] = bool(stopped[i])
        if nll is not None:
            item["nll"] = nll[i]
        scored.append(item)
    return scored


def summarize(scored: list[dict]) -> dict:
    summary = {k: float(np.mean([r[k] for r in scored])) for k in ROUGE_KEYS + ("repetition", "length_words")}
    if scored and "unsupported" in scored[0]:
        # share of rows stating at least one fact (number, unit, size, name, credit) their title and neighbours do not
        summary["unsupported_rate"] = float(np.mean([bool(r["unsupported"]) for r in scored]))
    if scored and "wrong_facts" in scored[0]:
        copies = [r for r in scored if r["copied"]]
        summary.update(
            # judged by the truth: a fact neither the title nor the reference states; a copy of another product's text
            wrong_fact_rate=float(np.mean([bool(r["wrong_facts"]) for r in scored])),
            wrong_product_rate=float(np.mean([r["wrong_product"] for r in scored])),
            copied_share=float(np.mean([r["copied"] for r in scored])),
            copy_precision=float(np.mean([not r["wrong_product"] for r in copies])) if copies else None,
            unfounded_credit_rate=float(np.mean([r["unfounded_credit"] for r in scored])),
            unfounded_credit_rate_plain=float(np.mean([r["unfounded_credit_plain"] for r in scored])),
            whole_sentence_rate=float(np.mean([r["ends_whole"] for r in scored])))
    if scored and all("unstated_number_plain" in r for r in scored):  # rows scored before this judge came have none
        summary["unstated_number_rate_plain"] = float(np.mean([r["unstated_number_plain"] for r in scored]))
    if scored and "nll" in scored[0]:
        summary["perplexity"] = perplexity([r["nll"] for r in scored])
    if scored and "stopped" in scored[0]:
        summary["stop_rate"] = float(np.mean([r["stopped"] for r in scored]))
    return summary


def perplexity(nll: list[float] | np.ndarray) -> float:
    """exp of the mean per-example NLL (a geometric mean over examples: one outlier cannot dominate)."""
    return float(math.exp(float(np.mean(nll))))


def score_model(predictor: "predictor.Predictor", prompted: list[dict], name: str, base: bool = False) -> tuple[dict, list[dict]]:
    """Generate for every row (the predictor's texts: `base` for the base model), score them and the references'
    perplexity, write the `{name}_predictions` and `{name}_metrics` artifacts; (metrics, scored rows). With several
    processes each generates its share and all get every row back; process 0 alone writes."""
    cfg = predictor.cfg
    started = time.perf_counter()
    prompted = predictor.prompter.cut(prompted)  # a title over prompt.max_title_tokens, cut as every prompt cuts it
    results = predictor.generate(prompted, base=base, progress=f"generating {name}")
    generation_s = time.perf_counter() - started
    nll = predictor.reference_nll(prompted, base=base)
    scored = score_rows(prompted, [g.text for g in results], [g.stopped for g in results], nll)
    for item, g in zip(scored, results):
        item["new_tokens"] = g.new_tokens
    metrics = {
        "name": name, "n": len(prompted), "model": cfg.model.name, "metrics": summarize(scored),
        "decoding": decoding_settings(cfg), "uids_hash": uids_hash(prompted), "compute_dtype": predictor.dtype,
        "generation_s": generation_s, "wall_s": time.perf_counter() - started,
        "titles_cut": sum(bool(r.get("title_truncated")) for r in prompted),
    }
    if distributed.is_main():
        stages.write(cfg, {f"{name}_predictions": scored, f"{name}_metrics": metrics})
    return metrics, scored


def decoding_settings(cfg: Config) -> dict:
    return {k: getattr(cfg.eval, k) for k in DECODING_KEYS} | {"prompt": cfg.section_hash("prompt")}


def uids_hash(rows: list[dict]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(r["uid"] for r in rows).encode()).hexdigest()[:16]


def read_predictions(cfg: Config, name: str) -> tuple[dict, list[dict]]:
    return (read_json(stages.require(cfg, f"{name}_metrics")),
            read_jsonl(stages.require(cfg, f"{name}_predictions")))


def judged_rows(cfg: Config) -> tuple[list[dict], list[dict], dict, list[dict]]:
    """What compare judges on: (test rows, validation rows, the baseline's metrics, its scored rows), the baseline
    checked to be on these test rows with the decoding settings and compute dtype the fine-tune will use, so both
    models are judged alike."""
    from .modeling import dtype_name

    rows, validation = (stages.read_split(cfg, split) for split in ("test", "validation"))
    metrics, scored = read_predictions(cfg, "baseline")
    if metrics["uids_hash"] != uids_hash(rows):
        raise RuntimeError("the baseline was scored on other test rows: rerun the baseline stage")
    if metrics["decoding"] != decoding_settings(cfg):
        raise RuntimeError(
            f"the baseline used other decoding settings ({metrics['decoding']}) than now "
            f"({decoding_settings(cfg)}): rerun the baseline stage so both models are judged alike")
    # greedy text differs between bf16 and fp32: both models must run in one (run_all's stage keys hold the resolved
    # dtype, so it reruns the baseline itself; this catches `python -m descgen.compare` after a move)
    dtype = dtype_name(cfg)
    if metrics.get("compute_dtype", dtype) != dtype:
        raise RuntimeError(
            f"the baseline ran in {metrics['compute_dtype']} and the fine-tune would run in {dtype} "
            f"(model.dtype: {cfg.model.dtype}): set model.dtype to one of them, or rerun the baseline stage")
    return rows, validation, metrics, scored


# ------------------------------------------------------------------------------------------ comparison statistics
def paired_bootstrap(before: np.ndarray, after: np.ndarray, samples: int, seed: int,
                     statistic=np.mean) -> dict[str, float]:
    """Mean delta (after − before) and its 95 % percentile CI, resampling examples with replacement."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    if before.shape != after.shape:
        raise ValueError("paired bootstrap needs the same rows for both models")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(before), size=(samples, len(before)))
    deltas = np.array([statistic(after[i]) - statistic(before[i]) for i in index])
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {"mean": float(statistic(after) - statistic(before)), "ci_low": float(low), "ci_high": float(high)}


def retrieval_floor(source, rows: list[dict], split: str | None = None) -> list[dict]:
    """For each row, the nearest row of the neighbour source (retrieval.NeighbourSource: prepare's index; never the
    row itself nor its title): the description a copy-the-nearest system writes, or an empty one when no row shares
    a word with the title."""
    return [near[0] if near else {"uid": None, "title": "", "content": "", "similarity": 0.0}
            for near in source.nearest(rows, 1, split)]


# ------------------------------------------------------------------------------------------ tables
def systems_table(report: dict):
    """Every system's ROUGE-L side by side with the two failures a shop cannot publish, judged by the truth (a copy of
    another product's description; a fact neither the title nor the reference states), its share of texts ending with
    a whole sentence, its stop rate, and its ROUGE-L delta with the 95 % CI against the baseline and against the
    retrieval floor (compare.json's report: 04_compare, the model card and the web app's Evaluation tab show it)."""
    import pandas as pd

    def ci(d: dict | None) -> str:
        return "" if d is None else f"{d['mean']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"

    names = [n for n in SYSTEMS if n in report["models"]]
    models = report["models"]
    return pd.DataFrame({
        "ROUGE-L": [models[n]["rougeL"] for n in names],
        "wrong products": [models[n].get("wrong_product_rate", np.nan) for n in names],
        "wrong facts": [models[n].get("wrong_fact_rate", np.nan) for n in names],
        # the plain judge of numbers (not facts.py, which the shipped texts are cleaned by)
        "wrong numbers (plain)": [models[n].get("unstated_number_rate_plain", np.nan) for n in names],
        "whole sentences": [models[n].get("whole_sentence_rate", np.nan) for n in names],
        "stop rate": [models[n].get("stop_rate", np.nan) for n in names],
        # rows stating a fact that neither the title nor the neighbours shown state (what the system had to go on)
        "unsupported by its sources": [models[n].get("unsupported_rate", np.nan) for n in names],
        "vs baseline (ROUGE-L, 95% CI)": [ci(report["vs_baseline"].get(n, {}).get("rougeL")) for n in names],
        "vs floor (ROUGE-L, 95% CI)": [ci(report["vs_retrieval"].get(n, {}).get("rougeL")) for n in names],
    }, index=names).round(4)
