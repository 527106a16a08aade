"""Batched generation (left padding, KV cache, length-sorted batches) vs one prompt at a time, same rows.

    python bench/generate_bench.py --profile cpu --rows 50
    python bench/generate_bench.py --profile smoke

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
from descgen.stages import read_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=None)
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


if __name__ == "__main__":
    main()
