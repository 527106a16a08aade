import pytest
import torch

from descgen import local_models, modeling
from descgen.config import ConfigError

from conftest import make_cfg


def test_default_targets_adapt_all_four_fused_phi3_linears(smoke_cfg):
    model = modeling.apply_lora(modeling.load_model(smoke_cfg, training=True), smoke_cfg)
    assert modeling.adapted_modules(model) == {"qkv_proj": 2, "o_proj": 2, "gate_up_proj": 2, "down_proj": 2}


def test_trainable_parameter_count_matches_lora_arithmetic(smoke_cfg):
    model = modeling.apply_lora(modeling.load_model(smoke_cfg, training=True), smoke_cfg)
    r, hidden, kv, inter, layers = 16, 64, 2 * 16, 128, 2  # head_dim 16: qkv out = 64 + 2 × 2 × 16
    per_layer = r * (hidden + hidden + 2 * kv) + r * (hidden + hidden) + r * (hidden + 2 * inter) + r * (inter + hidden)
    assert modeling.count_parameters(model)[0] == layers * per_layer


def test_unfused_names_on_phi3_are_refused_with_the_fused_suggestion(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "lora.target_modules=[q_proj, k_proj, v_proj, o_proj]", model_dir=tiny_model_dir)
    model = modeling.load_model(cfg, training=True)
    with pytest.raises(ConfigError, match="'q_proj' matches no linear layer.*use 'qkv_proj'"):
        modeling.apply_lora(model, cfg)


def test_a_target_that_matches_nothing_is_named(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "lora.target_modules=[qkv_proj, mlp_in]", model_dir=tiny_model_dir)
    with pytest.raises(ConfigError, match="'mlp_in' matches no linear layer"):
        modeling.apply_lora(modeling.load_model(cfg, training=True), cfg)


def test_all_linear_is_accepted(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "lora.target_modules=all-linear", model_dir=tiny_model_dir)
    model = modeling.apply_lora(modeling.load_model(cfg, training=True), cfg)
    assert set(modeling.adapted_modules(model)) == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}


def test_stop_ids_are_end_and_endoftext(smoke_cfg):
    model, tokenizer = modeling.load_model(smoke_cfg), modeling.load_tokenizer(smoke_cfg)
    assert modeling.stop_token_ids(model, tokenizer) == sorted(tokenizer.convert_tokens_to_ids(["<|end|>", "<|endoftext|>"]))


def test_explicit_dtype_is_used(smoke_cfg, tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "model.dtype=bfloat16", model_dir=tiny_model_dir)
    assert modeling.load_model(cfg).dtype == torch.bfloat16
    assert modeling.load_model(smoke_cfg).dtype == torch.float32


def test_4bit_qlora_loads_and_takes_a_training_step_on_cpu(tmp_path, tiny_model_dir):
    pytest.importorskip("bitsandbytes")
    cfg = make_cfg(tmp_path, "model.quantization=4bit", "model.dtype=bfloat16", model_dir=tiny_model_dir)
    model = modeling.apply_lora(modeling.load_model(cfg, training=True), cfg)
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())
    ids = torch.randint(5, 100, (2, 16))
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.optim.SGD(params, lr=1.0).step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, params))


def test_default_profile_lora_on_phi4_minis_real_architecture_trains_23m_params():
    """Phi-4-mini's exact shape on the meta device (no weights, no download) with the default params."""
    from transformers import Phi3Config, Phi3ForCausalLM

    from descgen import config

    with torch.device("meta"):
        model = Phi3ForCausalLM(Phi3Config(**local_models.PHI4_MINI_ARCHITECTURE))
    assert sum(p.numel() for p in model.parameters()) == 3_836_021_760
    peft_model = modeling.apply_lora(model, config.load())
    # per layer r × (in + out): qkv 16·(3072+5120) + o 16·(3072+3072) + gate_up 16·(3072+16384) + down 16·(8192+3072)
    assert modeling.count_parameters(peft_model)[0] == 32 * 16 * (8192 + 6144 + 19456 + 11264) == 23_068_672
    assert modeling.adapted_modules(peft_model) == {"qkv_proj": 32, "o_proj": 32, "gate_up_proj": 32, "down_proj": 32}


def test_auto_dtype_follows_the_cpus_bf16_instructions_not_a_timing(smoke_cfg, monkeypatch):
    cfg = config_with(smoke_cfg, "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for avx512_bf16, amx, expected in ((True, False, torch.bfloat16), (False, True, torch.bfloat16),
                                       (False, False, torch.float32)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert [modeling.compute_dtype(cfg) for _ in range(3)] == [expected] * 3
    assert modeling.dtype_name(config_with(smoke_cfg, "float16")) == "float16"


def config_with(cfg, dtype: str):
    import dataclasses

    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, dtype=dtype))
