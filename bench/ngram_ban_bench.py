"""Cost of the repeated-n-gram ban per generated token, for each `eval.no_repeat_ngram_scope`. Figures, not a test.

    python bench/ngram_ban_bench.py                    # the cpu profile's test prompts (run its prepare stage first)
    python bench/ngram_ban_bench.py --batch-size 32 --new-tokens 256

Replays generation without a model: each batch of real prompts (the test rows with their retrieval.k neighbours, as
04_compare builds them), followed token by token by the rows' reference descriptions standing in for what a model
writes, goes through the logits processor that generate() would use, one call per new token as transformers makes
them. Prints the milliseconds the processor adds per batch and per generated token: `output` and
`prompt_and_output` are transformers' NoRepeatNGramLogitsProcessor (on the generated slice, on the whole sequence),
`copy` is descgen's incremental CopyNoRepeatNGram.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from transformers import NoRepeatNGramLogitsProcessor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from descgen import config, modeling, stages  # noqa: E402
from descgen.generate import CopyNoRepeatNGram, OutputNoRepeatNGram, length_batches  # noqa: E402
from descgen.predictor import Prompter  # noqa: E402


def processor(scope: str, n: int, prompt_ids: torch.Tensor):
    if scope == "copy":
        return CopyNoRepeatNGram(n, prompt_ids)
    if scope == "output":
        return OutputNoRepeatNGram(n, prompt_ids.shape[1])
    return NoRepeatNGramLogitsProcessor(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--batch-size", type=int, default=None, help="default: eval.batch_size")
    parser.add_argument("--new-tokens", type=int, default=None, help="default: eval.max_new_tokens")
    args = parser.parse_args()
    cfg = config.load(args.profile, args.overrides)
    size, new_tokens = args.batch_size or cfg.eval.batch_size, args.new_tokens or cfg.eval.max_new_tokens
    tokenizer = modeling.load_tokenizer(cfg, padding_side="left")
    prompter = Prompter(cfg, tokenizer)
    rows = prompter.prompted(stages.read_split(cfg, "test"), "test")
    texts = prompter.prompts(rows)
    batches = length_batches(tokenizer, texts, size)
    vocab = len(tokenizer)
    print(f"{len(rows)} prompts in {len(batches)} batches of <= {size}, {new_tokens} new tokens each, "
          f"n = {cfg.eval.no_repeat_ngram_size}, vocabulary {vocab:,}")
    for scope in ("output", "copy", "prompt_and_output"):
        spent, steps = 0.0, 0
        for chunk in batches:
            prompts = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                                add_special_tokens=False)["input_ids"]
            written = [tokenizer(rows[i]["content"], add_special_tokens=False)["input_ids"] for i in chunk]
            # every row writes new_tokens: its reference, then the pad token (a finished row, as in generate())
            written = torch.tensor([(w + [tokenizer.pad_token_id] * new_tokens)[:new_tokens] for w in written])
            ban = processor(scope, cfg.eval.no_repeat_ngram_size, prompts)
            for step in range(1, new_tokens + 1):
                ids, scores = torch.cat([prompts, written[:, :step]], dim=1), torch.zeros(len(chunk), vocab)
                started = time.perf_counter()
                ban(ids, scores)
                spent += time.perf_counter() - started
                steps += 1
        print(f"{scope:<18} {spent * 1000 / len(batches):9.1f} ms per batch   {spent * 1000 / steps:7.3f} ms per "
              f"generated token (whole batch)   {spent:6.2f} s over the split")


if __name__ == "__main__":
    main()
