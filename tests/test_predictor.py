"""The predictor: one path from a title to a text. The base model's text is the base model's (never from weights an
adapter was merged into and out of), and one title gets one text wherever it is shown: compare, describe, the demo
and the command line."""

from __future__ import annotations

import io
import json

import pytest
import torch

from conftest import make_cfg
from descgen import demo, describe, predictor as predictor_module, stages
from descgen.predictor import Predictor


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in open(path)]


def describe_args(source, output, **values):
    args = describe.parse_args(["--input", str(source), "--output", str(output)])
    for key, value in values.items():
        setattr(args, key, value)
    return args


@pytest.mark.parametrize("dtype,lora_weights", [("float32", "merged"), ("bfloat16", "merged"), ("bfloat16", "unmerged")])
def test_the_base_models_text_after_the_fine_tune_ran_is_a_freshly_loaded_base_models(trained_cfg, tmp_path, dtype,
                                                                                       lora_weights):
    cfg = make_cfg(tmp_path, f"model.dtype={dtype}", "retrieval.k=0", f"model.name={trained_cfg.model.name}",
                   f"paths.adapter_dir={trained_cfg.adapter_dir}", f"eval.lora_weights={lora_weights}")
    rows = stages.read_split(trained_cfg, "test")
    both = Predictor.load(cfg, adapter=True)
    tuned = both.generate(rows)
    after = both.generate(rows, base=True)
    fresh = Predictor.load(cfg, adapter=False).generate(rows, base=True)
    assert [g.text for g in after] == [g.text for g in fresh]
    assert [g.new_tokens for g in after] == [g.new_tokens for g in fresh]
    assert [g.text for g in tuned] != [g.text for g in fresh]  # the adapter was on for the fine-tune's texts


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_fine_tunes_merged_copy_is_the_adapter_merged_into_freshly_loaded_weights(trained_cfg, tmp_path, dtype):
    from peft import PeftModel

    from descgen import modeling

    cfg = make_cfg(tmp_path, f"model.dtype={dtype}", "retrieval.k=0", f"model.name={trained_cfg.model.name}",
                   f"paths.adapter_dir={trained_cfg.adapter_dir}")
    predictor = Predictor.load(cfg, adapter=True)
    assert predictor.lora_weights == "merged"  # auto: two copies of a small model fit any machine
    fresh = PeftModel.from_pretrained(modeling.load_model(cfg), str(cfg.adapter_dir)).merge_and_unload()
    tuned = predictor.tuned.state_dict()
    assert fresh.state_dict().keys() == tuned.keys()
    assert all(torch.equal(v, tuned[k]) for k, v in fresh.state_dict().items())
    rows = stages.read_split(trained_cfg, "test")
    assert [g.text for g in predictor.generate(rows)] == \
        [g.text for g in Predictor(cfg, fresh.eval(), predictor.tokenizer, adapter=False).generate(rows, base=True)]


def test_auto_merges_where_two_copies_fit_the_device_and_never_into_4bit(trained_cfg, tmp_path, monkeypatch):
    from descgen import modeling
    from descgen.config import ConfigError

    cfg = make_cfg(tmp_path, "retrieval.k=0", f"model.name={trained_cfg.model.name}",
                   f"paths.adapter_dir={trained_cfg.adapter_dir}")
    model = modeling.load_model(cfg)
    size = model.get_memory_footprint()
    monkeypatch.setattr(modeling, "device_memory_bytes", lambda: int(2 * size / modeling.MERGE_MEMORY_SHARE))
    assert modeling.lora_weights(cfg, model) == "merged"
    monkeypatch.setattr(modeling, "device_memory_bytes", lambda: int(2 * size / modeling.MERGE_MEMORY_SHARE) - 1)
    assert modeling.lora_weights(cfg, model) == "unmerged"  # Phi-4-mini in bf16 on a 16 GB card: 15.4 GB > 9.6
    assert modeling.lora_weights(make_cfg(tmp_path, "eval.lora_weights=merged"), model) == "merged"
    assert modeling.lora_weights(make_cfg(tmp_path, "model.quantization=4bit"), model) == "unmerged"
    with pytest.raises(ConfigError, match="nf4"):
        make_cfg(tmp_path, "model.quantization=4bit", "eval.lora_weights=merged")


def test_merging_and_unmerging_in_bf16_does_not_give_the_base_weights_back(trained_cfg, tmp_path):
    """Why the base model's weights never take the adapter: W + BA - BA is not W in bf16 (the old compare's "base
    model" was this)."""
    cfg = make_cfg(tmp_path, "model.dtype=bfloat16", "retrieval.k=0", f"model.name={trained_cfg.model.name}",
                   f"paths.adapter_dir={trained_cfg.adapter_dir}", "eval.lora_weights=unmerged")
    model = Predictor.load(cfg, adapter=True).model
    before = {k: v.clone() for k, v in model.state_dict().items() if "base_layer" in k}
    model.merge_adapter()
    model.unmerge_adapter()
    changed = sum(int((before[k] != v).sum()) for k, v in model.state_dict().items() if k in before)
    assert changed > 0


def test_a_base_only_predictor_refuses_to_write_as_the_fine_tune(trained_cfg, tmp_path):
    cfg = make_cfg(tmp_path, "retrieval.k=0", f"model.name={trained_cfg.model.name}")
    with pytest.raises(ValueError, match="holds the base model only"):
        Predictor.load(cfg, adapter=False).generate([{"title": "Tutu"}])


@pytest.mark.parametrize("lora_weights", ["merged", "unmerged"])
def test_the_head_reads_a_contiguous_input_in_every_generation_step(trained_cfg, tmp_path, lora_weights):
    """A frozen (PEFT-loaded or merged) head fed generate's strided last-position slice makes torch.matmul broadcast
    the head's weight to the batch (descgen/modeling.py: contiguous_head_input): ~25 % of the fine-tune's time on the
    cpu profile. Both models' heads must see contiguous inputs, and the fine-tune's weights stay frozen."""
    from descgen import modeling

    cfg = make_cfg(tmp_path, "model.dtype=bfloat16", "retrieval.k=0", f"model.name={trained_cfg.model.name}",
                   f"paths.adapter_dir={trained_cfg.adapter_dir}", f"eval.lora_weights={lora_weights}")
    predictor = Predictor.load(cfg, adapter=True)
    assert not any(p.requires_grad for p in predictor.tuned.parameters() if p.dim() == 2 and p.shape[0] > 1000)
    seen = []
    for model in {id(predictor.model): predictor.model, id(predictor.tuned): predictor.tuned}.values():
        head = modeling.unwrap_causal_lm(model).get_output_embeddings()
        head.register_forward_hook(lambda module, args, out: seen.append(args[0].is_contiguous()))
    rows = stages.read_split(trained_cfg, "test")[:4]
    predictor.generate(rows)
    predictor.generate(rows, base=True)
    assert len(seen) > 4 and all(seen)


def test_describe_writes_compares_texts_in_bf16_for_both_models(compared_bf16, tmp_path):
    """The issue's check: with model.dtype bfloat16, compare's baseline_rag is describe --base and its finetuned is
    describe's default output, row for row."""
    cfg, _, _ = compared_bf16
    test_split = stages.path(cfg, "test_split")
    for name, flags in (("baseline_rag", {"base": True}), ("finetuned", {"write_only": True}), ("gated", {})):
        out = tmp_path / f"{name}.jsonl"
        describe.run(cfg, describe_args(test_split, out, **flags))
        predictions = read_jsonl(stages.path(cfg, f"{name}_predictions"))
        described = read_jsonl(out)
        assert [d["description"] for d in described] == [p["output"] for p in predictions], name
        written = [(d, p) for d, p in zip(described, predictions) if d["source"] == "written"]
        assert [d.get("neighbours") for d, _ in written] == [[n["uid"] for n in p["neighbours"]] or None
                                                             for _, p in written]


def test_one_title_gets_one_text_in_the_demo_describe_and_the_command_line(compared_bf16, tmp_path, capsys):
    cfg, _, _ = compared_bf16
    table = demo.run(cfg).to_dict(orient="records")
    titles = list(cfg.demo.titles)
    for column, flags in (("answer", {}), ("fine-tuned", {"write_only": True})):
        out = tmp_path / f"{column}.jsonl"
        describe.run(cfg, describe_args("-", out, **flags), stdin=io.StringIO("".join(t + "\n" for t in titles)))
        assert [r["description"] for r in read_jsonl(out)] == [r[column] for r in table], column
    argv = ["--profile", "smoke", *[a for o in (f"paths.outputs={cfg.outputs_dir}", f"paths.adapter_dir={cfg.adapter_dir}",
                                                f"model.name={cfg.model.name}", "model.dtype=bfloat16", "retrieval.k=1")
                                    for a in ("--set", o)]]
    capsys.readouterr()
    for flag, column in (([], "answer"), (["--write-only"], "fine-tuned"), (["--base"], "base")):
        assert predictor_module.main(argv + flag + titles) == 0
        printed = capsys.readouterr().out
        texts = [block.split("\n", 1)[1].rstrip("\n") for block in printed.split("# ")[1:]]
        assert texts == [r[column] for r in table], column


def test_the_predictor_keeps_its_neighbour_index_across_calls(compared_bf16, monkeypatch):
    cfg, _, _ = compared_bf16
    predictor = Predictor.load(cfg, adapter=True)
    first = predictor.prompted([{"title": "Girls Ballet Tutu Neon Pink"}])
    loads = []
    monkeypatch.setattr(stages, "read_split", lambda *a: loads.append(a))  # a reload would read the split again
    again = predictor.prompted([{"title": "Girls Ballet Tutu Neon Pink"}])
    assert again == first and first[0]["neighbours"] and loads == []


@pytest.mark.parametrize("lora_weights", ["merged", "unmerged"])
def test_reference_nll_of_the_base_model_is_the_fresh_base_models(trained_cfg, tmp_path, lora_weights):
    cfg = make_cfg(tmp_path, "model.dtype=bfloat16", "retrieval.k=0", f"model.name={trained_cfg.model.name}",
                   f"paths.adapter_dir={trained_cfg.adapter_dir}", f"eval.lora_weights={lora_weights}")
    rows = stages.read_split(trained_cfg, "test")[:8]
    both = Predictor.load(cfg, adapter=True)
    tuned = both.reference_nll(rows)
    assert both.reference_nll(rows, base=True) == Predictor.load(cfg, adapter=False).reference_nll(rows, base=True)
    assert tuned != both.reference_nll(rows, base=True)
    assert all(torch.isfinite(torch.tensor(tuned)))
