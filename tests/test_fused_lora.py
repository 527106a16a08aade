"""The fused LoRA forward computes what PEFT's forward computes, and steps aside wherever it might not."""

import copy

import pytest
import torch

from descgen import fused_lora, modeling

from conftest import make_cfg


@pytest.fixture
def twin_models(tmp_path, tiny_model_dir):
    """The same LoRA model twice, with non-zero B (so the adapter matters): stock PEFT and fused."""
    cfg = make_cfg(tmp_path, "train.fused_lora=false", model_dir=tiny_model_dir)
    torch.manual_seed(0)
    stock = modeling.apply_lora(modeling.load_model(cfg, training=True), cfg)
    for name, param in stock.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    fused = copy.deepcopy(stock)
    assert fused_lora.install(fused) == 8  # 4 targets × 2 layers
    return stock, fused


def lora_grads(model):
    return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


def test_config_switch_installs_it(smoke_cfg):
    model = modeling.apply_lora(modeling.load_model(smoke_cfg, training=True), smoke_cfg)
    switched = [m for m in model.modules() if "forward" in vars(m)]
    assert len(switched) == 8 and all(m.forward.__func__ is fused_lora.fused_forward for m in switched)


def test_same_logits_and_gradients_as_peft_without_dropout(twin_models):
    stock, fused = twin_models
    ids = torch.randint(5, 300, (3, 24))
    for model in (stock, fused):
        model.eval()  # dropout off: the two must agree exactly up to float rounding
        model(input_ids=ids, labels=ids).loss.backward()
    a, b = stock(input_ids=ids).logits, fused(input_ids=ids).logits
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    ga, gb = lora_grads(stock), lora_grads(fused)
    assert ga.keys() == gb.keys() and len(ga) == 16
    for name in ga:
        torch.testing.assert_close(gb[name], ga[name], rtol=1e-4, atol=1e-7)


def test_dropout_is_the_keep_mask_with_the_rescale_folded_into_alpha(twin_models):
    _, fused = twin_models
    layer = fused.get_base_model().model.layers[0].mlp.down_proj
    name = layer.active_adapters[0]
    layer.lora_dropout[name].p = 0.25
    layer.train()
    x = torch.randn(2, 7, layer.in_features)
    torch.manual_seed(3)
    got = layer(x)
    torch.manual_seed(3)
    keep = fused_lora.keep_mask(x.shape, 0.25, x.device)
    a, b, s = layer.lora_A[name].weight, layer.lora_B[name].weight, layer.scaling[name]
    expected = layer.base_layer(x) + (x * keep / (1 - fused_lora.effective_p(0.25))) @ a.T @ b.T * s
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(got, layer.base_layer(x) + x @ a.T @ b.T * s)  # some inputs were dropped


def test_keep_mask_drops_at_the_asked_rate():
    keep = fused_lora.keep_mask(torch.Size([1000, 1000]), 0.25, torch.device("cpu"))
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    assert abs(1 - keep.float().mean().item() - 0.25) < 0.003  # 1e6 draws: sd of the rate = 0.0004
    assert fused_lora.keep_mask(torch.Size([7, 3]), 0.0, torch.device("cpu")).all()
    assert fused_lora.effective_p(0.05) == 3277 / 65536


def test_disabled_and_merged_adapters_take_peft_own_path(twin_models):
    stock, fused = twin_models
    ids = torch.randint(5, 300, (2, 16))
    fused.eval()
    stock.eval()
    with torch.no_grad():
        with fused.disable_adapter(), stock.disable_adapter():
            torch.testing.assert_close(fused(input_ids=ids).logits, stock(input_ids=ids).logits)
        with_adapter = fused(input_ids=ids).logits
        fused.merge_adapter()
        torch.testing.assert_close(fused(input_ids=ids).logits, with_adapter, rtol=1e-4, atol=1e-5)


def test_mixed_dtypes_outside_autocast_fall_back_to_peft(twin_models, monkeypatch):
    stock, fused = twin_models
    for model in (stock, fused):
        model.get_base_model().to(torch.bfloat16)
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data = param.data.float()  # fp32 LoRA on bf16 weights, as on fp16 GPUs
    calls = []
    monkeypatch.setattr(torch, "addmm", lambda *a, **k: calls.append(1))
    ids = torch.randint(5, 300, (2, 16))
    fused.eval()
    stock.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(input_ids=ids).logits, stock(input_ids=ids).logits)
    assert calls == []


def test_bf16_autocast_matches_peft(twin_models):
    stock, fused = twin_models
    ids = torch.randint(5, 300, (2, 16))
    fused.eval()
    stock.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a, b = stock(input_ids=ids).logits, fused(input_ids=ids).logits
    assert b.dtype == a.dtype
    torch.testing.assert_close(b.float(), a.float(), rtol=0.05, atol=0.05)


def test_gradient_checkpointing_replays_the_same_dropout_masks(twin_models):
    """Checkpointed layers rerun their forward in backward; the masks must be the ones the loss saw."""
    _, fused = twin_models
    for module in fused.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.3
    ids = torch.randint(5, 300, (2, 16))
    fused.train()
    grads = []
    for checkpointing in (False, True):
        if checkpointing:
            fused.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        fused.zero_grad()
        torch.manual_seed(7)
        fused(input_ids=ids, labels=ids).loss.backward()
        grads.append({n: g.clone() for n, g in lora_grads(fused).items()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-7)
