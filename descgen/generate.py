"""Batched generation (left padding + KV cache) with one prompt function and one set of decoding settings.

    python -m descgen.generate "Girls Ballet Tutu Neon Pink"            # fine-tuned (modelo_finetuned/)
    python -m descgen.generate --base --profile smoke "French Press"     # the base model
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, LogitsProcessorList, NoRepeatNGramLogitsProcessor

from . import distributed
from .config import EvalParams, PromptParams
from .modeling import base_only
from .progress import Progress
from .prompts import prompt_text


@dataclass
class Generation:
    text: str
    stopped: bool      # ended on a stop token before max_new_tokens
    new_tokens: int


class OutputNoRepeatNGram(LogitsProcessor):
    """transformers' no_repeat_ngram_size over the generated tokens only (`eval.no_repeat_ngram_scope: output`).

    For a decoder-only model transformers bans every n-gram of the whole sequence, prompt included: with a
    neighbour's description in the prompt, greedy decoding may not write any 3 consecutive tokens of it, nor of
    the title, so a fine-tune that learned to keep what siblings share is stopped from doing it. The prompt is the
    first `prompt_len` columns (left padding gives every row of a batch the same), so the generated part is the
    slice after it, and the ban is transformers' own processor applied to that slice."""

    def __init__(self, ngram_size: int, prompt_len: int):
        self.ban = NoRepeatNGramLogitsProcessor(ngram_size)
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        return self.ban(input_ids[:, self.prompt_len:], scores)


class CopyNoRepeatNGram(LogitsProcessor):
    """`eval.no_repeat_ngram_scope: copy`: the output-only ban, except that an n-gram may occur in the output as often
    as its row's prompt has it (at least once).

    The output-only ban still forbids an exact copy of a neighbour whose description repeats a phrase itself: on the
    cpu profile's 200-row test split of 2026-12-03, 10 of the 24 rows whose nearest training row is a sibling
    (ROUGE-L >= 0.5) would copy a description with a repeated token trigram (". It is …" twice), so greedy decoding is pushed off the sibling's text at the second
    one. A loop still ends at once: a phrase written more often than the prompt shows it is banned.

    Kept per row: the prompt's n-gram counts, and the output's counts grouped by their first n-1 tokens; each call
    adds the n-gram the last generated token completed (generate() calls once per new token), so a step costs
    O(batch), not O(batch × length)."""

    def __init__(self, ngram_size: int, prompt_ids: torch.Tensor):
        self.n = ngram_size
        self.prompt_len = prompt_ids.shape[1]
        self.allowed = [Counter(_ngrams(row, ngram_size)) for row in prompt_ids.tolist()]
        self.written: list[dict[tuple, Counter]] = [{} for _ in self.allowed]
        self.seen = 0  # generated tokens already counted

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids[:, self.prompt_len:].tolist()
        length, n = input_ids.shape[1] - self.prompt_len, self.n
        if length < self.seen:  # a new generate() call with the same processor: count from scratch
            self.written, self.seen = [{} for _ in self.allowed], 0
        for row, tokens in enumerate(generated):
            written = self.written[row]
            for end in range(max(self.seen, n - 1), length):  # the n-grams that end at newly generated tokens
                gram = tuple(tokens[end - n + 1:end + 1])
                written.setdefault(gram[:-1], Counter())[gram[-1]] += 1
            if length < n - 1:
                continue
            prefix = tuple(tokens[length - n + 1:])
            allowed = self.allowed[row]
            banned = [t for t, count in written.get(prefix, {}).items() if count >= max(1, allowed[prefix + (t,)])]
            if banned:
                scores[row, banned] = -float("inf")
        self.seen = length
        return scores


def _ngrams(tokens: list[int], n: int):
    return (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def decoding_kwargs(settings: EvalParams, stop_ids: list[int], pad_id: int, prompt_ids: torch.Tensor | None = None,
                    **override) -> dict:
    """generate() kwargs from params (the same for every model); `override` is for the demo's controls.
    `prompt_ids`: the batch's left-padded prompts; the output-only n-gram bans start after them, and the copy scope
    counts their n-grams (None: the ban is left out, for callers that only read the other settings)."""
    values = {
        "max_new_tokens": settings.max_new_tokens, "do_sample": settings.do_sample,
        "temperature": settings.temperature, "top_p": settings.top_p,
        "no_repeat_ngram_size": settings.no_repeat_ngram_size,
        "repetition_penalty": settings.repetition_penalty,
    }
    values.update({k: v for k, v in override.items() if v is not None})
    ngram = int(values["no_repeat_ngram_size"])
    kwargs = {
        "max_new_tokens": int(values["max_new_tokens"]), "do_sample": bool(values["do_sample"]),
        "eos_token_id": stop_ids, "pad_token_id": pad_id,
        "no_repeat_ngram_size": ngram if settings.no_repeat_ngram_scope == "prompt_and_output" else 0,
        "repetition_penalty": float(values["repetition_penalty"]),
    }
    if ngram and prompt_ids is not None and settings.no_repeat_ngram_scope != "prompt_and_output":
        ban = (CopyNoRepeatNGram(ngram, prompt_ids) if settings.no_repeat_ngram_scope == "copy"
               else OutputNoRepeatNGram(ngram, prompt_ids.shape[1]))
        kwargs["logits_processor"] = LogitsProcessorList([ban])
    if kwargs["do_sample"]:
        kwargs.update(temperature=float(values["temperature"]), top_p=float(values["top_p"]))
    else:  # keep the model's own sampling defaults from warning about unused settings under greedy decoding
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def generate(model, tokenizer, prompt: PromptParams, rows: list[dict], settings: EvalParams,
             stop_ids: list[int], batch_size: int | None = None, progress: bool | str = False,
             base: bool = False, texts: list[str] | None = None, **override) -> list[Generation]:
    """Descriptions for `rows` (each at least the fields `prompt.fields` shows), in order. `base=True` on a PeftModel turns the adapter off for the call,
    so base and fine-tuned come from one copy of the weights."""
    batch_size = batch_size or settings.batch_size
    texts = prompt_texts(tokenizer, prompt, rows) if texts is None else texts  # describe builds them once
    batches = length_batches(tokenizer, texts, batch_size)
    # several processes (eval.num_processes, describe --num-processes): this one generates its share of the
    # batches, each exactly as one process would (same rows, same padding), and all gather the whole list
    mine = distributed.shard_batches(len(batches))
    rank, size = distributed.world()
    label = progress if isinstance(progress, str) else "generating"
    meter = Progress(label if size == 1 else f"{label}, process {rank + 1}/{size}",
                     sum(len(batches[b]) for b in mine), enabled=bool(progress) and rank == 0)
    results: list[Generation | None] = [None] * len(texts)
    previous_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    stop = torch.tensor(stop_ids)
    try:
        with base_only(model, base), torch.inference_mode():
            for b in mine:
                chunk = batches[b]
                enc = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(model.device)
                kwargs = decoding_kwargs(settings, stop_ids, tokenizer.pad_token_id,
                                         prompt_ids=enc["input_ids"], **override)
                out = model.generate(**enc, **kwargs)
                new = out[:, enc["input_ids"].shape[1]:].cpu()
                for row, index in enumerate(chunk):
                    results[index] = _decode(tokenizer, new[row], stop)
                meter.update(len(chunk))
        meter.close()
    finally:
        tokenizer.padding_side = previous_side
    return distributed.gather_in_order(results)


def prompt_texts(tokenizer, prompt: PromptParams, rows: list[dict]) -> list[str]:
    """The prompt each row is continued from: what HF generate and vLLM (descgen.describe --engine vllm) both get."""
    return [prompt_text(tokenizer, prompt, row) for row in rows]


def length_batches(tokenizer, texts: list[str], batch_size: int) -> list[list[int]]:
    """Row indices in batches, longest prompts first: similar lengths share a batch (less padding), and an
    out-of-memory shows up at once. The order is stable, so it is the same in every process."""
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def _decode(tokenizer, ids: torch.Tensor, stop: torch.Tensor) -> Generation:
    hits = torch.isin(ids, stop).nonzero()
    end = int(hits[0]) if len(hits) else len(ids)
    text = tokenizer.decode(ids[:end], skip_special_tokens=True).strip()
    return Generation(text=text, stopped=bool(len(hits)), new_tokens=end)


def main() -> None:
    from . import config, modeling, retrieval, stages

    parser = argparse.ArgumentParser(description="Write a product description for each title.")
    parser.add_argument("titles", nargs="+")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--base", action="store_true", help="use the base model, without the adapter")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None, help="sample at this temperature (default: greedy)")
    args = parser.parse_args()
    cfg = config.load(args.profile, args.overrides)
    if cfg.retrieval.k:
        try:  # the neighbours come from prepare's train split: say so before loading a model
            stages.require(cfg, "train_split")
        except FileNotFoundError as exc:
            raise SystemExit(f"generate: {exc}; or --set retrieval.k=0 to write without neighbours") from None
    model, tokenizer = modeling.load_for_inference(cfg, adapter=not args.base)
    override = {"max_new_tokens": args.max_new_tokens}
    if args.temperature is not None:
        override.update(do_sample=True, temperature=args.temperature)
    # the neighbours 04_compare and the demo show (retrieval.k > 0), from prepare's index
    rows = retrieval.with_neighbours(cfg, tokenizer, [{"title": t} for t in args.titles])
    outputs = generate(model, tokenizer, cfg.prompt, rows, cfg.eval, modeling.stop_token_ids(model, tokenizer),
                       **override)
    for title, result in zip(args.titles, outputs):
        print(f"# {title}\n{result.text}\n")


if __name__ == "__main__":
    main()
