"""The adapter's model card, `modelo_finetuned/README.md`, in the Hugging Face format: YAML front matter, then what it
was trained on, how, how well it does (04_compare's table with CIs, the retrieval floor) and how to load it.

Written by the train stage (no scores yet) and rewritten by the compare stage once compare.json exists, so the card
that travels with the adapter (`huggingface-cli upload <repo> modelo_finetuned`) says what was measured. Its numbers
are read from the run's own files, never typed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import stages
from .config import Config
from .io import atomic_write_text, read_json

CARD_FILE = "README.md"
# eval.no_repeat_ngram_scope, as the card says it
SCOPE_WORDS = {"output": "over the output", "prompt_and_output": "over the prompt and output",
               "copy": "over the output, a phrase allowed as often as the prompt has it"}
SYSTEM_NAMES = {"baseline": "base model", "baseline_rag": "base model + neighbours", "finetuned": "fine-tuned (this adapter)",
                "retrieval": "retrieval floor (copy the nearest catalogue description)",
                "gated": "gated (`gate.json`: copy the nearest description made this product's, or the fine-tune writes)",
                "oracle": "oracle gate (per row the better of copy and write: a ceiling, not a system)"}


def front_matter(cfg: Config, report: dict) -> dict:
    return {
        "base_model": cfg.model.name,
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "license": "mit",
        "language": [cfg.prompt.language],
        "tags": ["lora", "peft", "product-descriptions", "amazon", "text-generation",
                 "qlora" if cfg.model.quantization == "4bit" else "bf16-lora"],
        "datasets": ["LF-AmazonTitles-1.3MM"],
    }


def _optional(cfg: Config, artifact: str) -> dict | None:
    path = stages.path(cfg, artifact)
    return read_json(path) if path.exists() else None


def _ci(d: dict) -> str:
    return f"{d['mean']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"


def render(cfg: Config, report: dict, compare: dict | None = None) -> str:
    """The card: front matter, then what it was trained on, how, how it scored and how to use it."""
    lines = ["---", yaml.safe_dump(front_matter(cfg, report), sort_keys=False).strip(), "---", "",
             f"# Product descriptions from titles: a LoRA adapter for {cfg.model.name}", "",
             "Given a product title, writes the product's description in Amazon's style. Trained and evaluated by "
             "this repository's pipeline (`./run_all.sh --profile " + cfg.profile + "`).", ""]
    lines += data_section(cfg, report, compare) + training_section(cfg, report) + evaluation_section(compare)
    return "\n".join(lines + use_section(cfg))


def data_section(cfg: Config, report: dict, compare: dict | None) -> list[str]:
    """The funnel from the file to the splits (prepare's report), and the split sizes."""
    prepare = _optional(cfg, "prepare_report") or {}
    lines = ["## Training data", ""]
    if prepare:
        funnel = {"lines read": prepare["lines_read"], "malformed lines": prepare["malformed"],
                  **{f"dropped: {k.replace('_', ' ')}": v for k, v in prepare["dropped"].items()},
                  "eligible rows": prepare["eligible"],
                  **{f"{k} split": v for k, v in prepare["split_sizes"].items()}}
        lines += ["| step | rows |", "|---|---:|"] + [f"| {k} | {v:,} |" for k, v in funnel.items()] + [""]
    return lines + [f"Splits: {report['train_rows']:,} training rows, {report['validation_rows']:,} validation rows "
                    f"(eval loss, checkpoint choice){', ' + str(compare['n']) + ' test rows' if compare else ''}. "
                    f"Data file: `{cfg.data.path}`; retrieval.k = {cfg.retrieval.k} neighbours shown in the prompt.", ""]


def training_section(cfg: Config, report: dict) -> list[str]:
    settings = {
        "LoRA r / alpha / dropout": f"{cfg.lora.r} / {cfg.lora.alpha} / {cfg.lora.dropout}",
        "target modules": ", ".join(cfg.lora.target_modules),
        "trainable parameters": f"{report['trainable_params']:,} of {report['total_params']:,}",
        "quantization / compute dtype": f"{cfg.model.quantization} / {report['compute_dtype']}",
        "learning rate / scheduler": f"{cfg.train.learning_rate} / {cfg.train.lr_scheduler}",
        "effective batch": f"{cfg.train.micro_batch_size} × {cfg.train.grad_accum} × {report.get('world_size', 1)} "
                           f"processes = {report.get('effective_batch', cfg.train.micro_batch_size * cfg.train.grad_accum)}",
        "max sequence length": str(cfg.train.max_seq_len),
        "steps": f"{report['final_step']} of {report['max_steps']}",
        "eval loss (description tokens)": f"{report['initial_eval_loss']:.4f} → {report['best_eval_loss']:.4f}",
        "device": report["device"],
    }
    return ["## Training", "", "| setting | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in settings.items()] + [""]


def evaluation_section(compare: dict | None) -> list[str]:
    """Every system's scores from compare.json with CIs against the base model and the floor, the verdict, the best."""
    if compare is None:
        return ["## Evaluation", "", "Not scored yet: the compare stage (`./run_all.sh --from compare`) writes the table "
                "here.", ""]
    scope = SCOPE_WORDS[compare["decoding"].get("no_repeat_ngram_scope", "prompt_and_output")]
    lines = ["## Evaluation", "",
             f"{compare['n']} test rows, greedy decoding (`no_repeat_ngram_size` "
             f"{compare['decoding']['no_repeat_ngram_size']} {scope}, at most {compare['decoding']['max_new_tokens']} "
             "new tokens), the same prompt and rows for every system. Deltas are paired-bootstrap 95 % CIs.", "",
             "| system | ROUGE-L | wrong products | wrong facts | wrong numbers (plain judge) | whole sentences | stop rate "
             "| vs base model (ROUGE-L) | vs retrieval floor (ROUGE-L) |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, label in SYSTEM_NAMES.items():
        if name in compare["models"]:
            lines.append(_system_row(label, compare["models"][name], compare["vs_baseline"].get(name, {}).get("rougeL"),
                                     compare["vs_retrieval"].get(name, {}).get("rougeL")))
    verdict = compare["verdict"]
    lines += ["", f"Verdict: the fine-tune against the base model **{verdict['vs_baseline_rougeL']}**; against "
              f"the retrieval floor **{verdict['vs_retrieval_rougeL']}**. Judged by the true descriptions: "
              "\"wrong products\" is the share of rows whose text is a copy of another product's description (one "
              "scoring below 0.5 ROUGE-L against the row's own); \"wrong facts\" the share stating a fact (a number, "
              "size, colour, format, name or credited praise) that neither the title nor the real description states "
              "(descgen/facts.py, which the shipped texts are also cleaned by); \"wrong numbers\" the share stating a "
              "number neither states, by a plain digit judge apart from it; \"whole sentences\" the share ending with "
              "one.", ""]
    gate = compare.get("gate") or {}
    if gate.get("test"):
        found = gate["test"]
        lines += [f"The gate copies only where the nearest description is this product's text with "
                  f"{gate['min_precision']:.0%} precision (chosen on catalogue rows): on the test rows it copied "
                  f"{gate['copied_test_rows']} of {gate['test_rows']}, precision {_share(found['precision'])}, "
                  f"recall {_share(found['recall'])}.", ""]
    best = compare.get("best")
    if best:
        floor = f", {_ci(best['vs_retrieval'])} against the floor" if best.get("vs_retrieval") else ""
        lines += [f"**Best system keeping the precision promise: {SYSTEM_NAMES.get(best['name'], best['name'])}**, "
                  f"ROUGE-L {best['rougeL']:.4f}{floor}. `python -m descgen.describe` and `python -m descgen.app` "
                  "write with it.", ""]
    return lines


def _share(d: dict) -> str:
    return "–" if d["value"] is None else f"{d['value']:.2f} [{d['ci_low']:.2f}, {d['ci_high']:.2f}]"


def _system_row(label: str, metrics: dict, vs_base: dict | None, vs_floor: dict | None) -> str:
    def rate(key: str) -> str:
        return f"{metrics[key]:.2f}" if metrics.get(key) is not None else "–"

    return (f"| {label} | {metrics['rougeL']:.4f} | {rate('wrong_product_rate')} | {rate('wrong_fact_rate')} | "
            f"{rate('unstated_number_rate_plain')} | {rate('whole_sentence_rate')} | {rate('stop_rate')} | "
            f"{_ci(vs_base) if vs_base else '–'} | {_ci(vs_floor) if vs_floor else '–'} |")


def use_section(cfg: Config) -> list[str]:
    return ["## Use", "", "```python", "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
            f'base = AutoModelForCausalLM.from_pretrained("{cfg.model.name}", dtype="auto")',
            'model = PeftModel.from_pretrained(base, "modelo_finetuned")  # or the hub repo it was uploaded to',
            'tokenizer = AutoTokenizer.from_pretrained("modelo_finetuned")', "```", "",
            "The prompt is the chat template's user message `" + cfg.prompt.instructions[cfg.prompt.language]
            + "\\n\\nTitle: <title>`" + (" with the nearest catalogue products before the title" if cfg.retrieval.k
                                          else "") + "; stop on the template's end tokens. "
            "`python -m descgen.predictor \"<title>\"` does all of it.", ""]


def write(cfg: Config, report: dict | None = None, folder: Path | None = None, scores: bool = True) -> Path:
    """Write (or refresh) the card in `folder` (the adapter folder by default) from the run's reports; `scores=False`
    for a just-trained adapter, which outputs/eval/compare.json (another adapter's, if any) does not describe."""
    folder = folder or cfg.adapter_dir
    report = report or read_json(folder / stages.ARTIFACTS["training_report"].file)
    compare = _optional(cfg, "compare_report") if scores else None
    return atomic_write_text(folder / CARD_FILE, render(cfg, report, compare))


def read_front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{path}: no YAML front matter")
    return yaml.safe_load(text[4:text.index("\n---", 4)])
