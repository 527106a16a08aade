"""Stage 2: the base model's descriptions and scores on the test split (the 'before' of the comparison)."""

from __future__ import annotations

import sys

from . import config, modeling, stages
from .config import Config
from .evaluation import evaluate_model


def run(cfg: Config) -> dict:
    """Greedy (params) descriptions for every test row; writes outputs/eval/baseline_{predictions.jsonl,metrics.json}."""
    rows = stages.read_split(cfg, "test")
    model, tokenizer = modeling.load_for_inference(cfg, adapter=False)
    return evaluate_model(cfg, model, tokenizer, rows, "baseline")


def main(argv: list[str] | None = None) -> int:
    cfg = config.from_command_line("python -m descgen.baseline", "Score the base model on the test split "
                                   "(stage 2), as 02_baseline does.", argv)
    modeling.ensure_local_model(cfg)
    print(run(cfg)["metrics"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
