"""Batched generation (left padding, KV cache, length-sorted batches) vs one prompt at a time, same rows.

    python bench/generate_bench.py --profile cpu --rows 50
    python bench/generate_bench.py --profile smoke
    python bench/generate_bench.py --profile cpu --rows 100 --batch-sizes 25 50 100 --set eval.max_new_tokens=40

With --batch-sizes it instead times batched generation at each size, the rows shown their retrieval.k neighbours as
in 04_compare, and prints prompt against new tokens (on a CPU, prefill is most of the cost once a neighbour is shown).

Prints both wall times, the speed ratio, and whether the greedy texts are identical.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from descgen import config, modeling  # noqa: E402
from descgen.generate import generate  # noqa: E402
from descgen.prompts import prompt_text  # noqa: E402
from descgen.stages import read_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    args = parser.parse_args()

    cfg = config.load(args.profile, args.overrides)
    modeling.ensure_local_model(cfg)
    try:
        titles = [{"title": r["title"]} for r in read_split(cfg, "test")][: args.rows]
    except FileNotFoundError:
        from descgen import prepare

        titles = [{"title": r["title"]} for r in prepare.run(cfg).splits["test"]][: args.rows]
    model, tokenizer = modeling.load_for_inference(cfg, adapter=False)
    stops = modeling.stop_token_ids(model, tokenizer)
    batch = args.batch_size or cfg.eval.batch_size
    print(f"model {cfg.model.name} ({modeling.compute_dtype(cfg)}), {len(titles)} titles, "
          f"max_new_tokens {cfg.eval.max_new_tokens}, batch {batch}", flush=True)

    generate(model, tokenizer, cfg.prompt, titles[:2], cfg.eval, stops, batch_size=2)  # warm-up
    if args.batch_sizes:
        sizes(cfg, model, tokenizer, titles, stops, args.batch_sizes)
        return
    started = time.perf_counter()
    batched = generate(model, tokenizer, cfg.prompt, titles, cfg.eval, stops, batch_size=batch)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    single = [generate(model, tokenizer, cfg.prompt, [t], cfg.eval, stops, batch_size=1)[0] for t in titles]
    single_s = time.perf_counter() - started

    same = sum(a.text == b.text for a, b in zip(batched, single))
    tokens = sum(g.new_tokens for g in batched)
    print(f"one at a time: {single_s:7.1f} s  ({tokens / single_s:6.1f} new tokens/s)")
    print(f"batched:       {batched_s:7.1f} s  ({tokens / batched_s:6.1f} new tokens/s)")
    print(f"speed-up: {single_s / batched_s:.1f}x; identical greedy text: {same}/{len(titles)}")


def sizes(cfg, model, tokenizer, titles, stops, batch_sizes) -> None:
    from descgen import retrieval

    rows = retrieval.with_neighbours(cfg, tokenizer, titles)
    prompt = sum(len(tokenizer(prompt_text(tokenizer, cfg.prompt, r), add_special_tokens=False)["input_ids"])
                 for r in rows)
    for size in batch_sizes:
        started = time.perf_counter()
        out = generate(model, tokenizer, cfg.prompt, rows, cfg.eval, stops, batch_size=size)
        wall = time.perf_counter() - started
        new = sum(g.new_tokens for g in out)
        print(f"batch {size:4d}: {wall:7.1f} s  {prompt} prompt + {new} new tokens = "
              f"{(prompt + new) / wall:6.1f} tokens/s through the model")


if __name__ == "__main__":
    main()
