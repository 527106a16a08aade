"""Loading the base model and tokenizer, choosing precision, wrapping with LoRA (training). Generation loads through
the predictor (descgen/predictor.py), which calls `load_model` and `load_tokenizer` here.

The real path is the hub: `microsoft/Phi-4-mini-instruct` (HF_TOKEN, if needed, is read from the
environment by huggingface_hub and never passed around or saved). A `model.name` that is a folder in
the repo is loaded from disk; `model.build` says how the project builds that folder when missing.
"""

from __future__ import annotations

import os

import torch

from .config import Config, ConfigError

# Module names that only exist in un-fused attention/MLP blocks, and their fused Phi-3 equivalents.
FUSED_EQUIVALENTS = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj",
                     "gate_proj": "gate_up_proj", "up_proj": "gate_up_proj"}


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_bf16() -> bool:
    """Does this CPU have bf16 dot-product instructions (AVX512-BF16 or AMX)? Then oneDNN runs bf16 matmuls natively
    (bf16/fp32 time 0.36-0.39 measured here); without them bf16 is emulated, ~100x slower than fp32 on AVX2-only CPUs.
    A fact of the machine, read from its CPUID (torch's cpuinfo), so every process and every run decides alike."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def compute_dtype(cfg: Config) -> torch.dtype:
    """The dtype the frozen base weights and the matmuls run in. `model.dtype: auto` is decided by what the device
    has, never by a timing: a GPU with bf16 (Ampere and newer) or a CPU with bf16 instructions runs bf16; a T4/V100
    runs fp16 (with fp32 LoRA weights); other CPUs fp32. Each stage's key records it (stages.resolved_dtype), so
    outputs made on one kind of machine and continued on another rerun what they must."""
    if cfg.model.dtype != "auto":
        return getattr(torch, cfg.model.dtype)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def dtype_name(cfg: Config) -> str:
    """compute_dtype as reports and stage keys write it: 'bfloat16', 'float32', ..."""
    return str(compute_dtype(cfg)).replace("torch.", "")


def load_tokenizer(cfg: Config, padding_side: str = "right"):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        cfg.model_path, revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code
    )
    if tokenizer.pad_token_id is None:
        # Phi-4-mini already has pad = eos = <|endoftext|>; padding is masked by the attention mask, so a pad
        # token that equals eos is harmless as long as labels are never masked by comparing with it.
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_model(cfg: Config, training: bool = False):
    """The base model on the best device, in `compute_dtype`, 4-bit nf4 when `model.quantization: 4bit`."""
    from transformers import AutoModelForCausalLM

    dtype = compute_dtype(cfg)
    kwargs = dict(revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code, dtype=dtype)
    if cfg.model.attn_implementation:
        kwargs["attn_implementation"] = cfg.model.attn_implementation
    if cfg.model.quantization == "4bit":
        from transformers import BitsAndBytesConfig

        # nf4 + double quant: 3.8 B params × ~0.52 B ≈ 2.0 GB of linear weights (+1.2 GB bf16 embeddings)
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16,
        )
    if torch.cuda.is_available():
        # one GPU per process: LOCAL_RANK (set by accelerate launch / torchrun) picks it, 0 when alone
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    model = AutoModelForCausalLM.from_pretrained(cfg.model_path, **kwargs)
    if training:
        model.config.use_cache = False  # the KV cache is useless (and conflicts) with gradient checkpointing
    elif cfg.model.quantization == "4bit":
        upcast_unquantized(model)
    return model


MERGE_MEMORY_SHARE = 0.6  # eval.lora_weights auto: merged when two copies of the weights take at most this share


def device_memory_bytes() -> int:
    """The memory generation runs in: this process's GPU's, else the machine's RAM. Its total, a fact of the machine."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(int(os.environ.get("LOCAL_RANK", 0))).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def lora_weights(cfg: Config, model) -> str:
    """'merged' or 'unmerged': how the fine-tune's texts are made on this machine (eval.lora_weights; params.yaml
    says why). auto decides by the loaded model's size against the device's total memory, so one profile makes one
    choice on one machine."""
    if cfg.model.quantization == "4bit":
        return "unmerged"  # config refuses 4bit + merged: merging into nf4 rounds the adapter away
    if cfg.eval.lora_weights != "auto":
        return cfg.eval.lora_weights
    two_copies = 2 * model.get_memory_footprint()
    return "merged" if two_copies <= MERGE_MEMORY_SHARE * device_memory_bytes() else "unmerged"


def upcast_unquantized(model) -> None:
    """What PEFT's prepare_model_for_kbit_training does to a 4-bit model before QLoRA training: every parameter not
    quantized (embeddings, norms) goes to fp32. Done at inference too, so baseline, compare and the demo run the
    very function the adapter was trained in: found at real size (bench/real_size.py), where the bf16 norms of an
    unprepared reload changed greedy text. Phi-4-mini: the tied 200,064 × 3,072 embedding grows 1.2 -> 2.5 GB,
    on top of ~2.0 GB of nf4 linears."""
    for param in model.parameters():
        if param.dtype in (torch.float16, torch.bfloat16) and type(param).__name__ != "Params4bit":
            param.data = param.data.to(torch.float32)


def stop_token_ids(model, tokenizer) -> list[int]:
    """Every id that ends a reply: the generation config's eos list (Phi-4-mini: <|end|>, <|endoftext|>) + eos."""
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return sorted(set(ids))


def linear_module_names(model) -> set[str]:
    """Short names (last path part) of every nn.Linear (or 4-bit Linear) in the model, lm_head excluded."""
    names = set()
    for path, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            short = path.rsplit(".", 1)[-1]
            if short != "lm_head":
                names.add(short)
    return names


def check_target_modules(model, targets: list[str]) -> None:
    """Every configured LoRA target must match a linear layer, else stop and say which (and what would)."""
    if targets == ["all-linear"]:
        return
    available = linear_module_names(model)
    for name in targets:
        if name in available:
            continue
        hint = ""
        fused = FUSED_EQUIVALENTS.get(name)
        if fused and fused in available:
            hint = (f" This model fuses them: use {fused!r} "
                    f"(Phi-3 / Phi-4-mini: qkv_proj, o_proj, gate_up_proj, down_proj).")
        raise ConfigError(
            f"lora.target_modules: {name!r} matches no linear layer of this model.{hint} "
            f"Linear layers here: {', '.join(sorted(available))}"
        )


def apply_lora(model, cfg: Config):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    check_target_modules(model, cfg.lora.target_modules)
    if cfg.model.quantization == "4bit":
        # casts norms to fp32 and enables input grads so checkpointed 4-bit layers pass gradients back
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.train.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    targets = cfg.lora.target_modules
    lora = LoraConfig(
        r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout, bias="none",
        task_type="CAUSAL_LM", target_modules="all-linear" if targets == ["all-linear"] else list(targets),
    )
    model = get_peft_model(model, lora)
    if cfg.train.fused_lora:
        from .fused_lora import install

        install(model)
    return model


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def adapted_modules(peft_model) -> dict[str, int]:
    """How many modules carry a LoRA adapter, by short name: proof that every target was adapted."""
    counts: dict[str, int] = {}
    for path, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and len(getattr(module, "lora_A")):
            short = path.rsplit(".", 1)[-1]
            counts[short] = counts.get(short, 0) + 1
    return counts


def unwrap_causal_lm(model):
    """The bare *ForCausalLM under DDP/accelerate and PEFT wrappers (its LoRA layers stay in place), whose
    `.get_decoder()` gives hidden states and `.get_output_embeddings()` the head: the chunked loss and the reference
    perplexity both need the two apart."""
    model = getattr(model, "module", model)  # DDP / accelerate wrappers
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def contiguous_head_input(model) -> None:
    """Make the head's input contiguous before it runs (once per model; generation only reads it).

    At a prompt's first step generate keeps only the last position's hidden state (`logits_to_keep`): a strided
    [batch, 1, hidden] slice. torch.matmul folds a contiguous 3-D input into one matrix product, but a strided one
    times a weight that does not require grad (a PEFT-loaded or merged model: PEFT freezes every base weight) goes
    through bmm with the weight broadcast to the batch: a copy of the head per row, 25 rows × 49,152 × 576 bf16 =
    1.4 GB on SmolLM2 (aten::copy_ 1.7 s of a 6.1 s generate call under torch.profiler). The base model, loaded with
    requires_grad on, never paid it, so the fine-tune ran ~25 % slower on the same weights (cpu profile: 7.6 against
    5.9 s for 25 rows × 30 tokens, the same tokens either way; bench/generate_bench.py --adapter)."""
    head = unwrap_causal_lm(model).get_output_embeddings()
    if head is None or getattr(head, "_contiguous_input", False):
        return
    head.register_forward_pre_hook(lambda module, args: (args[0].contiguous(), *args[1:]))
    head._contiguous_input = True
