"""The training loss, shared by train (stage 3) and the reference perplexity in evaluation: right-padding
collation and the next-token NLL over description tokens only, computed in chunks.

The vocabulary is the expensive axis: Phi-4-mini's 200,064 logits × 4 B = 0.8 MB per token, so a micro-batch of
8 × 512 tokens would hold 3.3 GB of logits. Only labelled (description) positions get logits, `chunk_tokens` at a
time: 1,024 × 0.8 MB = 0.8 GB at most.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .prompts import IGNORE_INDEX


class PadCollator:
    """Right-pads a batch. Padding is marked by the attention mask and -100 labels, never by the pad id:
    on Phi-4-mini pad = eos, and masking every label equal to pad would also mask the EOS the model must learn."""

    def __init__(self, pad_id: int, multiple_of: int = 8):
        self.pad_id = pad_id
        self.multiple_of = multiple_of  # tensor cores like multiples of 8

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        width = math.ceil(longest / self.multiple_of) * self.multiple_of
        batch = {
            "input_ids": torch.full((len(features), width), self.pad_id, dtype=torch.long),
            "labels": torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long),
            "attention_mask": torch.zeros((len(features), width), dtype=torch.long),
        }
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids = torch.tensor(f["input_ids"])
            batch["input_ids"][row, :n] = ids
            if "labels" in f:
                batch["labels"][row, :n] = torch.tensor(f["labels"])
            else:  # the tokenized training set stores where the description starts instead of a labels copy
                start = f["prompt_length"]
                batch["labels"][row, start:n] = ids[start:]
            batch["attention_mask"][row, :n] = 1
        return batch


def _chunk_nll(hidden: torch.Tensor, targets: torch.Tensor, lm_head: torch.nn.Module) -> torch.Tensor:
    return F.cross_entropy(lm_head(hidden).float(), targets, reduction="sum")


def description_nll(causal_lm, input_ids, attention_mask, labels, chunk_tokens: int,
                    **decoder_inputs) -> tuple[torch.Tensor, int]:
    """Summed next-token NLL over the labelled (description) positions, and their count. `decoder_inputs`: what a
    packed batch brings instead of an attention mask (position_ids, the flash-attention sequence bounds)."""
    hidden = causal_lm.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                     **decoder_inputs).last_hidden_state
    return nll_from_hidden(hidden, labels, causal_lm.get_output_embeddings(), chunk_tokens)


def packing_collator():
    """transformers' padding-free collator: a micro-batch becomes one row of all its examples' tokens, positions
    restarting at 0 for each and the first label of each set to -100, so no target crosses from one example into
    the next (the shift in `nll_from_hidden` pairs an example's last token with the next one's first label). Each
    example keeps its own description labels and end tokens. Only attention that reads the sequence bounds
    (flash-attention's varlen kernels) keeps examples apart: see train.check_packing."""
    from transformers import DataCollatorWithFlattening

    return _DropLength(DataCollatorWithFlattening(return_position_ids=True, return_flash_attn_kwargs=True))


class _DropLength:
    """The length column feeds length-grouped sampling; the flattening collator has no use for it. Labels are made
    from the prompt length (the tokenized training set's form)."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, features: list[dict]) -> dict:
        return self.collate([{"input_ids": f["input_ids"], "labels": f["labels"] if "labels" in f else
                              [IGNORE_INDEX] * f["prompt_length"] + list(f["input_ids"][f["prompt_length"]:])}
                             for f in features])


def nll_from_hidden(hidden, labels, lm_head, chunk_tokens: int) -> tuple[torch.Tensor, int]:
    """Logits are computed only where a label exists, at most `chunk_tokens` rows at a time. When the batch's
    description tokens fill more than one chunk, each chunk is recomputed in the backward pass instead of
    stored, so [tokens × vocab] logits never exist for the whole batch; when they fit in one chunk, storing
    them is within that budget and recomputing would only cost time."""
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    hidden, targets = hidden[:, :-1][keep], targets[keep]
    recompute = torch.is_grad_enabled() and targets.numel() > chunk_tokens
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, targets.numel(), chunk_tokens):
        h, t = hidden[start:start + chunk_tokens], targets[start:start + chunk_tokens]
        if recompute:
            total = total + checkpoint(_chunk_nll, h, t, lm_head, use_reentrant=False)
        else:
            total = total + _chunk_nll(h, t, lm_head)
    return total, int(targets.numel())
