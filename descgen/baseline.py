"""Stage 2: the base model's descriptions and scores on the test split (the 'before' of the comparison)."""

from __future__ import annotations

from . import modeling
from .config import Config
from .evaluation import evaluate_model
from .prepare import read_split


def run(cfg: Config) -> dict:
    """Greedy (params) descriptions for every test row; writes outputs/eval/baseline_{predictions.jsonl,metrics.json}."""
    rows = read_split(cfg, "test")
    model, tokenizer = modeling.load_for_inference(cfg, adapter=False)
    return evaluate_model(cfg, model, tokenizer, rows, "baseline")
