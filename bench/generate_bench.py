"""Batched generation (left padding, KV cache, length-sorted batches) vs one prompt at a time, same rows.

    python bench/generate_bench.py --profile cpu --rows 50
    python bench/generate_bench.py --profile smoke
    python bench/generate_bench.py --profile cpu --rows 100 --batch-sizes 25 50 100 --set eval.max_new_tokens=40

With --batch-sizes it instead times batched generation at each size, the rows shown their retrieval.k neighbours as
in 04_compare, and prints prompt against new tokens (on a CPU, prefill is most of the cost once a neighbour is shown).

With --adapter (after a train stage) it times the fine-tune's two paths (eval.lora_weights): the same prompted rows
(each shown its retrieval.k neighbours, as compare and describe show them) through the base model, the fine-tune
unmerged (PEFT's LoRA on top) and the fine-tune from a merged copy of the weights, in alternating rounds; prints rows/s
and new tokens/s of each (best and worst round), the fine-tunes' ratio to the base model, the memory each predictor
holds, and the rows whose greedy text differs between the two fine-tunes.

Prints both wall times, the speed ratio, and whether the greedy texts are identical.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from descgen import config, local_models  # noqa: E402
from descgen.predictor import Predictor  # noqa: E402
from descgen.stages import read_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--adapter", action="store_true", help="time unmerged vs merged fine-tune (needs the adapter)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    cfg = config.load(args.profile, args.overrides)
    local_models.ensure_for(cfg)
    try:
        titles = [{"title": r["title"]} for r in read_split(cfg, "test")][: args.rows]
    except FileNotFoundError:
        from descgen import prepare

        titles = [{"title": r["title"]} for r in prepare.run(cfg).splits["test"]][: args.rows]
    if args.adapter:
        unmerged_vs_merged(cfg, titles, args.rounds, args.overrides)
        return
    predictor = Predictor.load(cfg, adapter=False)
    batch = args.batch_size or cfg.eval.batch_size
    print(f"model {cfg.model.name} ({predictor.dtype}), {len(titles)} titles, "
          f"max_new_tokens {cfg.eval.max_new_tokens}, batch {batch}", flush=True)

    predictor.generate(titles[:2], base=True, batch_size=2)  # warm-up
    if args.batch_sizes:
        sizes(predictor, titles, args.batch_sizes)
        return
    started = time.perf_counter()
    batched = predictor.generate(titles, base=True, batch_size=batch)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    single = [predictor.generate([t], base=True, batch_size=1)[0] for t in titles]
    single_s = time.perf_counter() - started

    same = sum(a.text == b.text for a, b in zip(batched, single))
    tokens = sum(g.new_tokens for g in batched)
    print(f"one at a time: {single_s:7.1f} s  ({tokens / single_s:6.1f} new tokens/s)")
    print(f"batched:       {batched_s:7.1f} s  ({tokens / batched_s:6.1f} new tokens/s)")
    print(f"speed-up: {single_s / batched_s:.1f}x; identical greedy text: {same}/{len(titles)}")


def sizes(predictor, titles, batch_sizes) -> None:
    rows = predictor.prompted(titles)
    tokenizer = predictor.tokenizer
    prompt = sum(len(ids) for ids in tokenizer(predictor.prompts(rows), add_special_tokens=False)["input_ids"])
    for size in batch_sizes:
        started = time.perf_counter()
        out = predictor.generate(rows, base=True, batch_size=size)
        wall = time.perf_counter() - started
        new = sum(g.new_tokens for g in out)
        print(f"batch {size:4d}: {wall:7.1f} s  {prompt} prompt + {new} new tokens = "
              f"{(prompt + new) / wall:6.1f} tokens/s through the model")


def unmerged_vs_merged(cfg, titles, rounds: int, overrides: list[str]) -> None:
    predictors = {path: Predictor.load(config.load(cfg.profile, overrides + [f"eval.lora_weights={path}"]))
                  for path in ("unmerged", "merged")}
    rows = predictors["merged"].prompted(titles)
    runs = {"base (with neighbour)": lambda: predictors["merged"].generate(rows, base=True),
            "fine-tune, unmerged": lambda: predictors["unmerged"].generate(rows),
            "fine-tune, merged copy": lambda: predictors["merged"].generate(rows)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    texts, tokens = {}, {}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            out = run()
            times[name].append(time.perf_counter() - started)
            texts[name], tokens[name] = [g.text for g in out], sum(g.new_tokens for g in out)
    print(f"{len(rows)} rows, {predictors['merged'].dtype}, batch {cfg.eval.batch_size}, {rounds} alternating rounds:")
    base = min(times["base (with neighbour)"])
    for name, seconds in times.items():
        best, worst = min(seconds), max(seconds)
        print(f"  {name:<24} {len(rows) / best:6.2f} rows/s best, {len(rows) / worst:6.2f} worst; "
              f"{tokens[name] / best:7.1f} new tokens/s; {base / best:.2f}x the base model's rows/s")
    for path, predictor in predictors.items():
        held = sum(m.get_memory_footprint() for m in {id(predictor.model): predictor.model,
                                                      id(predictor.tuned): predictor.tuned}.values())
        print(f"  weights held with the fine-tune {path}: {held / 2**20:.0f} MiB")
    differ = sum(a != b for a, b in zip(texts["fine-tune, unmerged"], texts["fine-tune, merged copy"]))
    print(f"  greedy text differs between the unmerged and merged fine-tune on {differ}/{len(rows)} rows")


if __name__ == "__main__":
    main()
