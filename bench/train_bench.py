"""Training throughput and memory: our recipe vs the seeds' recipe.

    python bench/train_bench.py --device cpu                # SmolLM2-135M (cpu profile), same rows for both
    python bench/train_bench.py --device cpu --profile smoke
    python bench/train_bench.py --device cuda               # Phi-4-mini-shaped random model, 16 GiB cap

Recipes
  ours:  dynamic padding of length-grouped batches, loss (and logits) on description tokens only, computed in
         chunks, the fused LoRA forward (descgen/fused_lora.py), weights in the fast dtype (bf16 where the
         hardware is fast at it), gradient checkpointing on GPU.
  seeds: every example padded to max_seq_len, loss on all tokens (full logits), stock PEFT layers, fp32 on CPU (bf16 on the GPU,
         where fp32 weights of 3.8 B params would not fit 16 GB anyway).
The figure of merit is description tokens per second: the tokens the model is actually taught to write.

--device cuda builds a randomly initialised model with Phi-4-mini's exact config (hidden 3072, 32 layers,
24 heads, 8 KV heads, intermediate 8192, vocab 200,064, tied embeddings, partial rotary 0.75): no download.
It runs bf16 LoRA and 4-bit QLoRA at several micro-batch sizes under a 16 GiB cap and prints peak memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from measured import run_json_child  # noqa: E402

from descgen import config, local_models, modeling  # noqa: E402
from descgen.stages import read_split  # noqa: E402
from descgen.prompts import IGNORE_INDEX, encode_example  # noqa: E402
from descgen.losses import PadCollator, description_nll  # noqa: E402

PHI4_MINI = local_models.PHI4_MINI_ARCHITECTURE


# ------------------------------------------------------------------------------------------ batches
def description_tokens(rows) -> int:
    """The useful work in a batch: the description tokens of its rows, counted the same way for both recipes."""
    return sum(sum(1 for t in e["labels"] if t != IGNORE_INDEX) for e in rows)


def ours_batches(examples, micro_batch: int, pad_id: int):
    """(batch, description tokens) pairs: length-grouped (sorted) rows, padded to the longest (multiple of 8)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["input_ids"]))
    collate = PadCollator(pad_id)
    groups = [[examples[i] for i in order[s:s + micro_batch]] for s in range(0, len(order), micro_batch)]
    return [(collate(rows), description_tokens(rows)) for rows in groups]


def seeds_batches(examples, micro_batch: int, pad_id: int, max_len: int):
    """(batch, description tokens) pairs: every row padded to max_len; labels = input ids with every pad-id
    token masked, as DataCollatorForLanguageModeling does (which also masks the EOS, since pad = eos)."""
    batches = []
    for s in range(0, len(examples), micro_batch):
        rows = examples[s:s + micro_batch]
        ids = torch.full((len(rows), max_len), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, e in enumerate(rows):
            ids[r, :len(e["input_ids"])] = torch.tensor(e["input_ids"])
            mask[r, :len(e["input_ids"])] = 1
        labels = ids.clone()
        labels[labels == pad_id] = IGNORE_INDEX
        batches.append(({"input_ids": ids, "attention_mask": mask, "labels": labels}, description_tokens(rows)))
    return batches


def step_loss(recipe: str, model, batch, chunk: int):
    if recipe == "ours":
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        total, count = description_nll(causal_lm, batch["input_ids"], batch["attention_mask"], batch["labels"], chunk)
        return total / max(count, 1)
    return model(**batch).loss


def timed_pass(recipe, model, batches, chunk, autocast_dtype, device):
    """One optimizer step per batch over every batch once (the same rows for both recipes), after a warm-up."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    model.train()

    def one(batch):
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = step_loss(recipe, model, batch, chunk)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    one(batches[0][0])  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    done_desc = done_tokens = 0
    for batch, description in batches:
        one(batch)
        done_desc += description
        done_tokens += int(batch["attention_mask"].sum())
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"steps": len(batches), "seconds": seconds, "description_tokens_per_s": done_desc / seconds,
            "tokens_per_s": done_tokens / seconds}


# ------------------------------------------------------------------------------------------ cpu: recipes compared
def bench_overrides(profile: str) -> list[str]:
    """The benchmark prepares its own split under bench/data/, leaving the pipeline's outputs/ alone."""
    return [f"paths.outputs={ROOT / 'bench' / 'data' / f'outputs-{profile}'}"]


def cpu_run(recipe: str, profile: str, rows: int, micro_batch: int, overrides: list[str]) -> dict:
    # the seeds ran stock PEFT layers in fp32
    seeds = ["model.dtype=float32", "train.fused_lora=false"] if recipe == "seeds" else []
    cfg = config.load(profile, bench_overrides(profile) + overrides + seeds)
    torch.manual_seed(0)
    tokenizer = modeling.load_tokenizer(cfg)
    model = modeling.apply_lora(modeling.load_model(cfg, training=True), cfg)
    data = read_split(cfg, "train")[:rows]
    examples = [vars(encode_example(tokenizer, cfg.prompt, r, cfg.train.max_seq_len))
                for r in data]
    if recipe == "ours":
        batches = ours_batches(examples, micro_batch, tokenizer.pad_token_id)
        dtype = modeling.compute_dtype(cfg)
        autocast = dtype if dtype != torch.float32 else None
    else:
        batches = seeds_batches(examples, micro_batch, tokenizer.pad_token_id, cfg.train.max_seq_len)
        autocast = None
    result = timed_pass(recipe, model, batches, cfg.train.loss_chunk_tokens, autocast, torch.device("cpu"))
    result.update(recipe=recipe, model=cfg.model.name, dtype=str(modeling.compute_dtype(cfg)), micro_batch=micro_batch)
    return result


def cpu_compare(args) -> None:
    cfg = config.load(args.profile, bench_overrides(args.profile) + args.overrides)
    local_models.ensure_for(cfg)
    from descgen import prepare

    prepare.run(cfg)
    # Recipes alternate (ours, seeds, ours, seeds, ...): this shared VM's speed drifts by +-10 % over minutes,
    # so one pair can mislead; the ratio reported is the median of the per-pair ratios.
    results = []
    for _ in range(args.repeats):
        for recipe in ("ours", "seeds"):
            results.append(cpu_child(recipe, args))
    print(f"\n{'recipe':<7} {'dtype':<15} {'desc tok/s':>11} {'all tok/s':>10} {'peak RSS GB':>12}")
    for r in results:
        print(f"{r['recipe']:<7} {r['dtype']:<15} {r['description_tokens_per_s']:11.1f} {r['tokens_per_s']:10.1f} "
              f"{r['peak_rss_bytes'] / 1e9:12.2f}")
    pairs = list(zip(results[0::2], results[1::2]))
    speed = sorted(o["description_tokens_per_s"] / s["description_tokens_per_s"] for o, s in pairs)
    memory = sorted(s["peak_rss_bytes"] / o["peak_rss_bytes"] for o, s in pairs)
    ours = results[0]
    print(f"\nours: {statistics.median(speed):.2f}x the description tokens/s of the seeds' recipe (per pair: "
          f"{', '.join(f'{x:.2f}' for x in speed)}), {statistics.median(memory):.2f}x less peak RSS "
          f"({ours['model']}, {args.rows} rows in {ours['steps']} micro-batches of {ours['micro_batch']}, "
          f"max_seq_len {cfg.train.max_seq_len})")


def cpu_child(recipe: str, args) -> dict:
    """One recipe in a fresh process, so each one's peak RSS is its own."""
    command = [sys.executable, __file__, "--child", recipe, "--profile", args.profile, "--rows", str(args.rows),
               "--micro-batch", str(args.micro_batch)] + [f"--set={o}" for o in args.overrides]
    return run_json_child(command, recipe)


# ------------------------------------------------------------------------------------------ cuda: Phi-4-mini shape
def synthetic_examples(n: int, max_len: int, seed: int = 0) -> list[dict]:
    """Prompt ~40 tokens (masked) + a description of log-normal length (median ~180 tokens), like trn.json rows."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(n):
        prompt = int(torch.randint(30, 50, (1,), generator=g))
        desc = int(min(max_len - prompt, max(8, torch.empty(1).log_normal_(5.2, 0.6, generator=g).item())))
        ids = torch.randint(10, 199_000, (prompt + desc,), generator=g).tolist()
        examples.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return examples


def cuda_bench(args) -> None:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, Phi3Config, Phi3ForCausalLM

    device = torch.device("cuda")
    name = torch.cuda.get_device_name(0)
    shape = dict(PHI4_MINI, num_hidden_layers=args.layers)
    weights = Path(args.scratch) / f"phi4-mini-random-{args.layers}l"
    if not (weights / "config.json").exists():
        # built straight in bf16 (7.7 GB; fp32 would be 15.3 GB) and saved once, so the 4-bit runs can load it
        # through from_pretrained + BitsAndBytesConfig like the real checkpoint
        torch.manual_seed(0)
        with torch.device(device):
            model = Phi3ForCausalLM._from_config(Phi3Config(**shape), dtype=torch.bfloat16)
        model.save_pretrained(weights)
        del model
        gc.collect()
        torch.cuda.empty_cache()
    # the cap applies to the training runs only: what a 16 GB card would allow
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, args.cap_gib * 2**30 / total))
    examples = synthetic_examples(args.rows, args.seq)
    targets = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    results = []
    for quant in args.quant:
        kwargs = {"dtype": torch.bfloat16, "device_map": {"": 0}, "attn_implementation": "sdpa"}
        if quant == "4bit":
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                               bnb_4bit_use_double_quant=True,
                                                               bnb_4bit_compute_dtype=torch.bfloat16)
        for recipe in ("ours", "seeds"):
            for micro in args.micro_batches:
                gc.collect()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                row = {"gpu": name, "quantization": quant, "recipe": recipe, "micro_batch": micro, "seq": args.seq}
                try:
                    model = AutoModelForCausalLM.from_pretrained(weights, **kwargs)
                    model.config.use_cache = False
                    if quant == "4bit":
                        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe == "ours",
                                                                gradient_checkpointing_kwargs={"use_reentrant": False})
                    elif recipe == "ours":
                        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
                    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                                             target_modules=targets, task_type="CAUSAL_LM"))
                    if recipe == "ours":
                        batches = ours_batches(examples, micro, PHI4_MINI["pad_token_id"])
                    else:
                        batches = seeds_batches(examples, micro, PHI4_MINI["pad_token_id"], args.seq)
                    row.update(timed_pass(recipe, model, batches, 1024, None, device))
                    row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
                except torch.cuda.OutOfMemoryError:
                    row["oom"] = True
                finally:
                    model = None
                results.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{name}, cap {args.cap_gib} GiB, seq {args.seq}")
    print(f"{'quant':<6} {'recipe':<6} {'micro':>5} {'peak GiB':>9} {'desc tok/s':>11} {'all tok/s':>10}")
    for r in results:
        if r.get("oom"):
            print(f"{r['quantization']:<6} {r['recipe']:<6} {r['micro_batch']:>5} {'OOM':>9}")
        else:
            print(f"{r['quantization']:<6} {r['recipe']:<6} {r['micro_batch']:>5} {r['peak_memory_gib']:9.2f} "
                  f"{r['description_tokens_per_s']:11.0f} {r['tokens_per_s']:10.0f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="cpu: (ours, seeds) pairs, alternated")
    parser.add_argument("--child", choices=["ours", "seeds"], help=argparse.SUPPRESS)
    # cuda
    parser.add_argument("--micro-batches", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--quant", nargs="+", default=["none", "4bit"])
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--cap-gib", type=float, default=16.0)
    parser.add_argument("--scratch", default="/tmp")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(cpu_run(args.child, args.profile, args.rows, args.micro_batch, args.overrides)))
    elif args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda needs a CUDA GPU")
        cuda_bench(args)
    else:
        cpu_compare(args)


if __name__ == "__main__":
    main()
