"""Phi-4-mini at its real size, through the default profile's own code path, without a download.

    python bench/real_size.py                      # CPU: bf16 (or what model.dtype auto picks) and 4-bit, 3 steps each
    python bench/real_size.py --steps 2 --skip-4bit
    python bench/real_size.py --device cuda        # the real default params: micro-batch 8 x 512, ~20 steps, 16 GiB cap

It builds `models/phi4-mini-random` once (`model.build: phi4-mini-random`: Phi-4-mini's exact architecture,
3.84 B parameters, random bf16 weights, 7.7 GB, and a stand-in tokenizer with its special tokens at their real ids),
prepares a few rows of the bundled sample, and then, in one fresh process per recipe (so each peak RSS is its own),
runs the same functions the pipeline runs: `train.run` with the default LoRA targets and r, max_seq_len 512,
then the adapter reloaded with plain `PeftModel.from_pretrained`, greedy text before and after saving,
`train.merge_adapter` and the merged model's logits against the adapter's, and the predictor's reference NLL.

How it fits a 24 GB CPU machine: the weights are bf16 from the start (7.7 GB; never fp32, which would be 15.4 GB),
micro-batch 1 with the sample's short rows (~150 tokens, at most max_seq_len = 512), gradient checkpointing (the
default: 32 layers keep one [tokens x 3072] input each), and description-only logits in 1,024-token chunks. The
4-bit recipe quantizes the same weights to nf4 at load (~2.6 GB) but still needs the bf16 copy while loading.
It prints one JSON line per recipe and a summary line; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measured import run_json_child  # noqa: E402  (bench/, beside this script)

EXPECTED_TRAINABLE = 23_068_672  # r=16 on qkv_proj, o_proj, gate_up_proj, down_proj: 32 × 16 × 45,056
MODEL_DIR = "models/phi4-mini-random"
LOGITS_FILE = ROOT / "bench" / "data" / "real_size" / "logits.pt"  # the bf16 adapter's and merged model's logits


def overrides(args, quantization: str) -> list[str]:
    out = ROOT / "bench" / "data" / "real_size"
    common = [f"model.name={MODEL_DIR}", "model.build=phi4-mini-random", f"model.quantization={quantization}",
              "data.path=dataset/sample/trn.json", "data.workers=1", "data.n_validation=2", "data.n_test=2",
              f"paths.outputs={out / 'outputs'}", f"paths.adapter_dir={out / ('adapter-' + quantization)}",
              f"train.max_steps={args.steps}", f"train.eval_steps={args.steps}", f"train.save_steps={args.steps}",
              "train.logging_steps=1", "eval.max_new_tokens=12", "eval.batch_size=2",
              # the reloaded adapter itself is what this checks (and merges below), not a merged copy of it
              "eval.lora_weights=unmerged"]
    if args.device == "cpu":
        # micro-batch 1: one sequence of <= 512 tokens per forward on 2 cores
        return common + [f"data.n_train={args.steps * 2}", "train.micro_batch_size=1", "train.grad_accum=1"]
    # the default profile's own batch (8 × 512, grad_accum 2): 16 rows a step
    return common + [f"data.n_train={args.steps * 16 + 16}"]


def child(args) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, TrainerCallback

    from descgen import config, evaluation, modeling, stages, train
    from descgen.predictor import Predictor
    from descgen.losses import PadCollator
    from descgen.prompts import encode_example

    if args.device == "cuda":
        # the 16 GB card this profile is sized for, on whatever larger card runs the bench
        torch.cuda.set_per_process_memory_fraction(min(1.0, 16 * 2**30 / torch.cuda.get_device_properties(0).total_memory))
    cfg = config.load("default", overrides(args, args.child))
    rows = stages.read_split(cfg, "test")
    checks: dict[str, bool] = {}
    figures: dict[str, object] = {"recipe": args.child, "compute_dtype": str(modeling.compute_dtype(cfg))}

    tokenizer = modeling.load_tokenizer(cfg)
    batch = PadCollator(tokenizer.pad_token_id)([vars(encode_example(tokenizer, cfg.prompt, r, cfg.train.max_seq_len))
                                                 for r in rows])
    batch = {k: v.to(modeling.device()) for k, v in batch.items() if k != "labels"}

    class LiveProbe(TrainerCallback):
        """The trained model once training ends (the best checkpoint is loaded by then), as a reload runs it: without
        accelerate's mixed-precision wrapper: its greedy text, its logits on `batch`, its LoRA weights, and the
        dtypes of its unquantized parameters."""
        texts: list[str] = []

        def on_train_end(self, training_args, state, control, model=None, processing_class=None, **kwargs):
            from accelerate.utils import extract_model_from_parallel

            model = extract_model_from_parallel(model, keep_fp32_wrapper=False).eval()
            modeling.unwrap_causal_lm(model).config.use_cache = True  # decode as the predictor's loaded model does
            side, processing_class.padding_side = processing_class.padding_side, "left"
            LiveProbe.texts = [g.text for g in Predictor(cfg, model, processing_class, adapter=True).generate(rows)]
            processing_class.padding_side = side
            with torch.inference_mode():
                LiveProbe.logits = model(**batch).logits.float().cpu()
            LiveProbe.lora = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if "lora_" in n}
            LiveProbe.dtypes = {n: p.dtype for n, p in model.named_parameters()}

    report = train.run(cfg, callbacks=[LiveProbe()])
    gc.collect()
    figures.update({k: report[k] for k in ("trainable_params", "final_step", "initial_eval_loss", "best_eval_loss",
                                           "train_s", "train_tokens_per_s", "adapted_modules")})
    figures["s_per_step"] = report["train_s"] / max(report["final_step"], 1)
    figures["adapter_bytes"] = stages.path(cfg, "adapter_weights").stat().st_size
    checks["trainable_params"] = report["trainable_params"] == EXPECTED_TRAINABLE
    checks["every_target_adapted"] = report["adapted_modules"] == {m: 32 for m in cfg.lora.target_modules}
    checks["loss_finite"] = bool(np.isfinite([report["initial_eval_loss"], report["best_eval_loss"]]).all())

    predictor = Predictor.load(cfg, adapter=True)  # plain PeftModel.from_pretrained (eval.lora_weights: unmerged)
    model = predictor.model
    reloaded = [g.text for g in predictor.generate(rows)]
    params = dict(model.named_parameters())
    checks["lora_weights_same_after_reload"] = all(torch.equal(params[n].cpu(), w) for n, w in LiveProbe.lora.items())
    checks["param_dtypes_same_after_reload"] = {n: p.dtype for n, p in params.items()} == LiveProbe.dtypes
    with torch.inference_mode():
        logits = model(**batch).logits.float().cpu()
    figures["reload_logits_max_abs_diff"] = float((logits - LiveProbe.logits).abs().max())
    figures["greedy_same_after_reload"] = reloaded == LiveProbe.texts
    if args.child == "none":
        checks["greedy_same_after_reload"] = figures["greedy_same_after_reload"]
    # else: fresh bitsandbytes layers compute the same weights a little differently from the trained ones; the
    # parent holds that difference to this model's bf16 noise, measured in the "none" recipe's reference
    figures["greedy"] = reloaded
    del params
    nll = predictor.reference_nll(rows)
    figures["perplexity"] = evaluation.perplexity(nll)
    checks["perplexity_finite"] = bool(np.isfinite(figures["perplexity"]))

    if args.child == "none":
        adapter_logits = logits
        del model
        gc.collect()
        started = time.perf_counter()
        merged_dir = train.merge_adapter(cfg)
        figures["merge_s"] = time.perf_counter() - started
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=modeling.compute_dtype(cfg))
        merged.to(modeling.device()).eval()
        with torch.inference_mode():
            merged_logits = merged(**batch).logits.float().cpu()
        del merged
        torch.save({"batch": {k: v.cpu() for k, v in batch.items()}, "adapter": adapter_logits, "merged": merged_logits},
                   LOGITS_FILE)
        import shutil

        shutil.rmtree(merged_dir)  # 7.7 GB
    if args.device == "cuda":
        figures["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated())
        figures["gpu"] = torch.cuda.get_device_name(0)
    figures["checks"] = checks
    return figures


def reference(args) -> dict:
    """The adapter model in fp32 (base weights upcast: 15.4 GB), the ground truth both bf16 forms are judged by.

    Merging rounds W + s·BA to bf16 once; the unmerged bf16 model rounds W once and adds s·B(A·x) in fp32. Both err
    from the fp32 function by bf16 rounding; the merge is right when its error is of the same order as the unmerged
    model's own (here: at most twice it), not when the two bf16 forms agree with each other to some fixed number."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from descgen import config

    cfg = config.load("default", overrides(args, "none"))
    saved = torch.load(LOGITS_FILE)
    # loaded in bf16, then upcast a tensor at a time: loading straight to fp32 held both copies (23 GB peak)
    base = AutoModelForCausalLM.from_pretrained(cfg.model_path, dtype=torch.bfloat16).float()
    model = PeftModel.from_pretrained(base, str(cfg.adapter_dir)).eval()
    with torch.inference_mode():
        truth = model(**saved["batch"]).logits.float()
    mask = saved["batch"]["attention_mask"].bool()
    merged_error = float((saved["merged"] - truth).abs()[mask].max())
    unmerged_error = float((saved["adapter"] - truth).abs()[mask].max())
    top1 = truth.argmax(-1)
    return {"merged_logits_max_abs_error": merged_error, "unmerged_bf16_logits_max_abs_error": unmerged_error,
            "fp32_logits_max_abs": float(truth.abs()[mask].max()),
            "merged_top1_agreement": float((saved["merged"].argmax(-1) == top1)[mask].float().mean()),
            "unmerged_bf16_top1_agreement": float((saved["adapter"].argmax(-1) == top1)[mask].float().mean()),
            "checks": {"merged_logits_match": merged_error <= 2 * unmerged_error + 1e-3}}


def run_child(args, recipe: str) -> dict:
    command = [sys.executable, __file__, "--child", recipe, "--device", args.device, "--steps", str(args.steps)]
    return run_json_child(command, f"recipe {recipe}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per recipe (cpu 3, cuda 20)")
    parser.add_argument("--skip-4bit", action="store_true")
    parser.add_argument("--child", choices=["none", "4bit", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.steps = args.steps or (3 if args.device == "cpu" else 20)
    if args.child:
        print(json.dumps(reference(args) if args.child == "reference" else child(args), default=str), flush=True)
        return

    from descgen import config, local_models, prepare

    started = time.perf_counter()
    cfg = config.load("default", overrides(args, "none"))
    local_models.ensure_for(cfg)  # ~2 min once: random init of 3.84 B bf16 weights, 7.7 GB written
    prepare.run(cfg)
    results = [run_child(args, "none")]
    truth = run_child(args, "reference")
    results[0]["checks"].update(truth.pop("checks"))
    results[0].update({k: v for k, v in truth.items() if k not in ("peak_rss_bytes", "wall_s")})
    results[0]["reference_wall_s"] = truth["wall_s"]
    if not args.skip_4bit:
        results.append(run_child(args, "4bit"))
        # as close as two bf16 computations of one function: the unmerged bf16 model vs the fp32 truth
        results[1]["checks"]["reload_logits_within_bf16_noise"] = (
            results[1]["reload_logits_max_abs_diff"] <= 2 * results[0]["unmerged_bf16_logits_max_abs_error"] + 1e-3)
    for r in results:
        print(json.dumps(r, default=str))
    summary = {
        "recipes": {r["recipe"]: {"s_per_step": round(r["s_per_step"], 1), "peak_rss_gb": round(r["peak_rss_bytes"] / 1e9, 2),
                                  "adapter_mb": round(r["adapter_bytes"] / 1e6, 1), "dtype": r["compute_dtype"],
                                  **({"peak_gpu_gb": round(r["peak_gpu_bytes"] / 1e9, 2)} if "peak_gpu_bytes" in r else {})}
                    for r in results},
        "trainable_params": results[0]["trainable_params"],
        "checks_passed": all(all(r["checks"].values()) for r in results),
        "failed": [f"{r['recipe']}:{k}" for r in results for k, ok in r["checks"].items() if not ok],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
