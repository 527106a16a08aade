"""How a batch is decoded: one set of decoding settings from params (greedy, the n-gram ban's scope, stop ids), the
batches in length order, and a row's text cut at its first stop id. The predictor (descgen/predictor.py) runs them;
nothing else generates."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, LogitsProcessorList, NoRepeatNGramLogitsProcessor

from .config import EvalParams


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


def length_batches(tokenizer, texts: list[str], batch_size: int) -> list[list[int]]:
    """Row indices in batches, longest prompts first: similar lengths share a batch (less padding), and an
    out-of-memory shows up at once. The order is stable, so it is the same in every process."""
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def decode_new_tokens(tokenizer, ids: torch.Tensor, stop: torch.Tensor) -> Generation:
    """The text of one row's generated ids, up to (without) its first stop id; stopped says whether one came."""
    hits = torch.isin(ids, stop).nonzero()
    end = int(hits[0]) if len(hits) else len(ids)
    text = tokenizer.decode(ids[:end], skip_special_tokens=True).strip()
    return Generation(text=text, stopped=bool(len(hits)), new_tokens=end)
