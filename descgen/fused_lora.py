"""A leaner training forward for PEFT's LoRA Linear layers: the same function, fewer passes over memory.

PEFT computes  y = base(x) + B(A(dropout(x))) * s  as separate ops, each a full pass over a
[tokens x out_features] tensor: B's output, the scaling, the addition (and the scaling again in backward).
Here those become one GEMM with an accumulate:

    y = addmm(base(x), A(x * m), B^T, alpha = s / (1 - p))

where m is the dropout keep-mask; its 1/(1 - p) rescale is folded into alpha because A is linear.

On CPU the dropout itself was the larger cost: torch draws one mt19937 number per element for F.dropout
(3.6 ms for an 8 x 112 x 576 input here, 15 ms at x 1536). `keep_mask` draws 64-bit numbers and splits each
into four 16-bit lanes (4x fewer draws), so p is rounded to a multiple of 1/65,536 (0.05 -> 0.0500031).
On CUDA, F.dropout's fused kernel is already cheap and is used as is.

Measured on SmolLM2-135M (cpu profile, 2 cores, fp32): see docs/benchmarks.md. Anything unusual (merged or
disabled adapters, several active adapters, DoRA / variants, a LoRA bias, mixed dtypes outside autocast, the
4-bit layer classes) takes PEFT's own forward, so the fast path only ever covers the plain case.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

LANES = 4            # 16-bit lanes per 64-bit draw
LANE_LEVELS = 65536  # p is rounded to a multiple of 1 / LANE_LEVELS


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """Boolean mask, each element True with probability 1 - round(p * 65536) / 65536, from torch's RNG
    (so torch.manual_seed and the Trainer's RNG checkpointing cover it)."""
    n = 1
    for size in shape:
        n *= size
    draws = torch.randint(-2**63, 2**63 - 1, ((n + LANES - 1) // LANES,), dtype=torch.int64, device=device)
    lanes = draws.view(torch.int16)[:n].view(shape)  # each lane uniform on [-32768, 32767]
    return lanes >= round(effective_p(p) * LANE_LEVELS) - LANE_LEVELS // 2


def effective_p(p: float) -> float:
    return round(p * LANE_LEVELS) / LANE_LEVELS


def _plain_case(layer, x: torch.Tensor, args, kwargs):
    """The active adapter's (A, B, dropout, scaling) when the fast path computes exactly what PEFT would."""
    if args or kwargs or layer.disable_adapters or layer.merged or len(layer.active_adapters) != 1:
        return None
    name = layer.active_adapters[0]
    if name not in layer.lora_A or name in getattr(layer, "lora_variant", {}):
        return None
    lora_a, lora_b = layer.lora_A[name], layer.lora_B[name]
    if lora_b.bias is not None or not isinstance(layer.base_layer, torch.nn.Linear):
        return None
    if layer.base_layer.weight.dtype != lora_a.weight.dtype and not torch.is_autocast_enabled(x.device.type):
        return None  # e.g. fp16 weights with fp32 LoRA outside autocast: PEFT's own promotion rules
    return lora_a, lora_b, layer.lora_dropout[name], layer.scaling[name]


def fused_forward(layer, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    plain = _plain_case(layer, x, args, kwargs)
    if plain is None:
        return type(layer).forward(layer, x, *args, **kwargs)
    lora_a, lora_b, dropout, scaling = plain
    result = layer.base_layer(x)
    lora_x = x if x.dtype == lora_a.weight.dtype else x.to(lora_a.weight.dtype)
    p = dropout.p if isinstance(dropout, torch.nn.Dropout) and dropout.training else 0.0
    alpha = scaling
    if p > 0 and x.device.type == "cpu":
        lora_x = torch.where(keep_mask(lora_x.shape, p, lora_x.device), lora_x, 0.0)
        alpha = scaling / (1.0 - effective_p(p))
    elif p > 0:
        lora_x = F.dropout(lora_x, p, training=True)
    hidden = F.linear(lora_x, lora_a.weight).reshape(-1, lora_a.weight.shape[0])
    out = torch.addmm(result.reshape(-1, result.shape[-1]), hidden, lora_b.weight.t(), alpha=alpha)
    return out.view(result.shape).to(result.dtype)


def install(model) -> int:
    """Give every plain PEFT LoRA Linear of `model` the fused forward; returns how many were switched."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    switched = 0
    for module in model.modules():
        if type(module) is LoraLinear:
            module.forward = types.MethodType(fused_forward, module)
            switched += 1
    return switched
