"""Scoring shared by 02_baseline and 04_compare: ROUGE, reference perplexity, stop rate, repetition,
paired bootstrap CIs and the retrieval floor. All offline (rouge_score, not evaluate.load)."""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import torch

from . import distributed, stages
from .config import Config
from .facts import row_sources, unsupported
from .io import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl
from .losses import PadCollator, nll_from_hidden
from .modeling import base_only, unwrap_causal_lm
from .prompts import encode_example

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")
METRIC_KEYS = ROUGE_KEYS + ("perplexity", "stop_rate", "repetition", "length_words", "unsupported_rate")
# settings that must be identical for two models' outputs to be compared
DECODING_KEYS = ("max_new_tokens", "do_sample", "temperature", "top_p", "no_repeat_ngram_size", "no_repeat_ngram_scope",
                 "repetition_penalty")


# ------------------------------------------------------------------------------------------ text metrics
def rouge_scores(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """Per-example ROUGE-1/2/L F1 with Porter stemming."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    return [{k: s.fmeasure for k, s in scorer.score(ref, pred).items()}
            for pred, ref in zip(predictions, references)]


def repetition_rate(text: str, n: int = 4) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for fresh text, near 1 for a loop."""
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


# ------------------------------------------------------------------------------------------ perplexity
@torch.inference_mode()
def reference_nll(model, tokenizer, cfg: Config, rows: list[dict], base: bool = False) -> list[float]:
    """Mean NLL per description token of each reference given its prompt (end tokens included)."""
    examples = [encode_example(tokenizer, cfg.prompt, r, cfg.train.max_seq_len) for r in rows]
    collate = PadCollator(tokenizer.pad_token_id)
    causal_lm = unwrap_causal_lm(model)
    lm_head = causal_lm.get_output_embeddings()
    nll: list[float | None] = [None] * len(examples)
    size = cfg.eval.batch_size
    # longest first, as generation batches: a batch pads to its longest row, so similar lengths together pad least
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
    with base_only(model, base):
        # several processes (eval.num_processes): each scores its share of the batches, as one process would
        for b in distributed.shard_batches((len(examples) + size - 1) // size):
            chunk = order[b * size:(b + 1) * size]
            batch = collate([{"input_ids": examples[i].input_ids, "labels": examples[i].labels} for i in chunk])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            hidden = causal_lm.get_decoder()(input_ids=batch["input_ids"],
                                             attention_mask=batch["attention_mask"]).last_hidden_state
            # one row at a time through the head: logits stay [one description's tokens × vocab]
            for row, index in enumerate(chunk):
                total, count = nll_from_hidden(hidden[row:row + 1], batch["labels"][row:row + 1], lm_head,
                                               cfg.train.loss_chunk_tokens)
                nll[index] = float(total) / max(count, 1)
    return distributed.gather_in_order(nll)


# ------------------------------------------------------------------------------------------ one model on the test split
def score_rows(rows: list[dict], outputs: list[str], stopped: list[bool] | None, nll: list[float] | None) -> list[dict]:
    scored = []
    rouge = rouge_scores(outputs, [r["content"] for r in rows])
    for i, (row, text) in enumerate(zip(rows, outputs)):
        item = {"uid": row["uid"], "title": row["title"], "reference": row["content"], "output": text,
                **rouge[i], "repetition": repetition_rate(text), "length_words": len(text.split()),
                # numbers, units, sizes stated by neither the title nor a neighbour shown (descgen/facts.py)
                "unsupported": unsupported(text, row_sources(row))}
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
        # share of rows stating at least one fact (number, unit, size) their title and neighbours do not
        summary["unsupported_rate"] = float(np.mean([bool(r["unsupported"]) for r in scored]))
    if scored and "nll" in scored[0]:
        summary["perplexity"] = perplexity([r["nll"] for r in scored])
    if scored and "stopped" in scored[0]:
        summary["stop_rate"] = float(np.mean([r["stopped"] for r in scored]))
    return summary


def perplexity(nll: list[float] | np.ndarray) -> float:
    """exp of the mean per-example NLL (a geometric mean over examples: one outlier cannot dominate)."""
    return float(math.exp(float(np.mean(nll))))


def evaluate_model(cfg: Config, model, tokenizer, rows: list[dict], name: str, base: bool = False) -> dict:
    """Generate for every row, score, write the `{name}_predictions` and `{name}_metrics` artifacts
    (outputs/eval/{name}_predictions.jsonl, {name}_metrics.json); the metrics."""
    return score_model(cfg, model, tokenizer, rows, name, base)[0]


@contextlib.contextmanager
def merged(cfg: Config, model, base: bool = False):
    """The adapter folded into the weights for the block, undone afterwards (the test checks the weights come back).
    An unmerged adapter costs two extra small matmuls per adapted linear per token (on SmolLM2, 200 rows:
    fine-tuned 136 s unmerged vs the base's 107 s; 102 s vs 134 s merged, other runs). Nothing for the base model
    (`base`), and not for 4-bit bases: merging into nf4 weights would re-quantize them."""
    merge = not base and hasattr(model, "merge_adapter") and cfg.model.quantization == "none"
    if merge:
        model.merge_adapter()
    try:
        yield
    finally:
        if merge:
            model.unmerge_adapter()


def score_model(cfg: Config, model, tokenizer, rows: list[dict], name: str, base: bool = False) -> tuple[dict, list[dict]]:
    """`evaluate_model`, also returning the scored rows. With several processes each generates its share and all
    get every row back; process 0 alone writes."""
    from . import modeling
    from .generate import generate

    started = time.perf_counter()
    with merged(cfg, model, base):
        results = generate(model, tokenizer, cfg.prompt, rows, cfg.eval,
                           modeling.stop_token_ids(model, tokenizer), progress=f"generating {name}", base=base)
        generation_s = time.perf_counter() - started
        nll = reference_nll(model, tokenizer, cfg, rows, base=base)
    scored = score_rows(rows, [g.text for g in results], [g.stopped for g in results], nll)
    for item, g in zip(scored, results):
        item["new_tokens"] = g.new_tokens
    metrics = {
        "name": name, "n": len(rows), "model": cfg.model.name, "metrics": summarize(scored),
        "decoding": decoding_settings(cfg), "uids_hash": uids_hash(rows),
        "compute_dtype": str(modeling.compute_dtype(cfg)).replace("torch.", ""),
        "generation_s": generation_s, "wall_s": time.perf_counter() - started,
    }
    if distributed.is_main():
        atomic_write_jsonl(stages.path(cfg, f"{name}_predictions"), scored)
        atomic_write_json(stages.path(cfg, f"{name}_metrics"), metrics)
    return metrics, scored


def decoding_settings(cfg: Config) -> dict:
    return {k: getattr(cfg.eval, k) for k in DECODING_KEYS} | {"prompt": cfg.section_hash("prompt")}


def uids_hash(rows: list[dict]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(r["uid"] for r in rows).encode()).hexdigest()[:16]


def read_predictions(cfg: Config, name: str) -> tuple[dict, list[dict]]:
    return (read_json(stages.require(cfg, f"{name}_metrics")),
            read_jsonl(stages.require(cfg, f"{name}_predictions")))


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


def retrieval_floor(train_rows: list[dict], test_rows: list[dict], index=None) -> list[dict]:
    """For each test row, the training row whose title is most similar (retrieval's TF-IDF cosine, word 1-2
    grams; prepare's index when given), never the row itself: the description a copy-the-nearest system writes."""
    from . import retrieval

    index = index or retrieval.build(train_rows)
    return [near[0] if near else {"uid": None, "title": "", "content": "", "similarity": 0.0}
            for near in retrieval.neighbours(index, train_rows, test_rows, 1)]
