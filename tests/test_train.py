import json

import pytest
import torch
from transformers import TrainerCallback

from descgen import losses, modeling, prepare, train
from descgen.predictor import Predictor
from descgen.prompts import encode_example

from conftest import make_cfg


@pytest.fixture
def prepared(tmp_path, tiny_model_dir):
    def build(*overrides):
        cfg = make_cfg(tmp_path, *overrides, model_dir=tiny_model_dir)
        prepare.run(cfg)
        return cfg
    return build


def test_chunked_description_loss_equals_the_standard_causal_lm_loss(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    model = modeling.load_model(smoke_cfg)
    examples = [encode_example(tokenizer, smoke_cfg.prompt, {"title": t, "content": d}, 160)
                for t, d in [("Tutu", "Pink and fluffy."), ("French Press", "Makes rich coffee every morning.")]]
    batch = losses.PadCollator(tokenizer.pad_token_id)([vars(e) for e in examples])
    reference = model(**batch).loss
    for chunk in (3, 1024):
        total, count = losses.description_nll(model, batch["input_ids"], batch["attention_mask"], batch["labels"], chunk)
        assert count == sum(e.n_target_tokens for e in examples)
        assert torch.allclose(total / count, reference, atol=1e-5)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_tokenized_training_set_on_disk_is_the_in_memory_tokenization(prepared, workers):
    from descgen import stages
    from descgen.predictor import Prompter

    cfg = prepared("retrieval.k=1", f"data.workers={workers}")
    dataset, stats = train.tokenized(cfg, "train")
    tokenizer = modeling.load_tokenizer(cfg)
    rows = Prompter(cfg, tokenizer).prompted(stages.read_split(cfg, "train"), "train", for_training=True)
    examples = [encode_example(tokenizer, cfg.prompt, r, cfg.train.max_seq_len) for r in rows]
    assert dataset["input_ids"] == [e.input_ids for e in examples]
    assert dataset["prompt_length"] == [e.prompt_length for e in examples]
    assert dataset["length"] == [len(e.input_ids) for e in examples]
    # the collator's labels are encode_example's
    batch = losses.PadCollator(0)([dataset[i] for i in range(3)])
    for i in range(3):
        assert batch["labels"][i, :len(examples[i].labels)].tolist() == examples[i].labels
    assert stats == {"rows": 400, "truncated": sum(e.truncated for e in examples),
                     "neighbours_shown": sum(len(r["neighbours"]) for r in rows), "titles_cut": 0, "skipped": 0}
    assert 0 < stats["neighbours_shown"] < 400  # within 160 tokens only some rows have room for their neighbour
    assert dataset.cache_files and dataset.cache_files[0]["filename"].endswith("train.arrow")  # memory-mapped


def test_length_grouped_batches_read_the_length_column_once_and_match_transformers_own():
    from types import SimpleNamespace

    import torch
    from datasets import Dataset
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths = [(i * 37) % 101 + 1 for i in range(500)]
    dataset = Dataset.from_dict({"input_ids": [[1] * n for n in lengths], "length": lengths})
    args = SimpleNamespace(train_sampling_strategy="group_by_length", length_column_name="length",
                           train_batch_size=8, gradient_accumulation_steps=2)
    ours = train.make_trainer_class()._get_train_sampler(SimpleNamespace(args=args, train_dataset=dataset))
    assert ours.lengths == lengths and isinstance(ours.lengths, list)
    theirs = LengthGroupedSampler(16, dataset=dataset, lengths=dataset["length"])
    torch.manual_seed(0)
    mine = list(ours)
    torch.manual_seed(0)
    assert mine == list(theirs) and sorted(mine) == list(range(500))


def test_another_learning_rate_reuses_the_tokenized_examples_another_sequence_length_does_not(prepared):
    cfg = prepared("retrieval.k=1")
    train.tokenized(cfg, "train")
    made = train.tokenized_dir(cfg) / "train.arrow"
    other_run = make_cfg(cfg.outputs_dir.parent, "retrieval.k=1", "train.learning_rate=1e-3", "train.max_steps=3",
                         "lora.r=4", f"model.name={cfg.model.name}")
    assert train.run_dir(other_run) != train.run_dir(cfg)  # another run, resumed apart...
    assert train.tokenized_dir(other_run) == train.tokenized_dir(cfg)  # ...on the same examples, not tokenized again
    before = made.stat().st_mtime_ns
    train.tokenized(other_run, "train")
    assert made.stat().st_mtime_ns == before
    longer = make_cfg(cfg.outputs_dir.parent, "retrieval.k=1", "train.max_seq_len=200", f"model.name={cfg.model.name}")
    assert train.tokenized_dir(longer) != train.tokenized_dir(cfg)


def test_training_lowers_validation_loss_and_writes_the_report(prepared):
    cfg = prepared()
    report = train.run(cfg)
    assert report["best_eval_loss"] < report["initial_eval_loss"]
    assert report["final_step"] == report["max_steps"] == 75  # 400 rows / 16 per step × 3 epochs
    assert report["adapted_modules"] == {"qkv_proj": 2, "o_proj": 2, "gate_up_proj": 2, "down_proj": 2}
    saved = json.loads((cfg.adapter_dir / "training_report.json").read_text())
    for key in ("trainable_params", "target_modules", "initial_eval_loss", "best_eval_loss", "final_step",
                "train_tokens_per_s", "peak_memory_bytes", "wall_s"):
        assert key in saved
    assert (cfg.adapter_dir / "adapter_model.safetensors").exists()
    assert (cfg.adapter_dir / "params_used.yaml").exists()
    assert (cfg.adapter_dir / "tokenizer.json").exists()


def test_fresh_lora_weights_come_from_train_seed_whatever_ran_before(tmp_path, tiny_model_dir):
    # unseeded, four cpu-profile runs of one commit started from other LoRA weights and ended with other fine-tunes
    cfg = make_cfg(tmp_path, model_dir=tiny_model_dir)
    weights = []
    for disturb in (1, 2):
        torch.manual_seed(disturb)  # what ran before in the process (a notebook's earlier cells) moves the global RNG
        model = train.lora_model(cfg)
        weights.append({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
    assert weights[0].keys() == weights[1].keys() and len(weights[0]) > 0
    assert all(torch.equal(weights[0][n], weights[1][n]) for n in weights[0])
    other = train.lora_model(make_cfg(tmp_path, "train.seed=7", model_dir=tiny_model_dir))
    assert not all(torch.equal(p, weights[0][n]) for n, p in other.named_parameters() if p.requires_grad)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"simulated crash at step {self.step}")


def test_an_interrupted_run_resumes_and_ends_at_the_same_step(prepared):
    cfg = prepared("train.epochs=1.0", "train.eval_steps=10", "train.save_steps=10")
    with pytest.raises(KeyboardInterrupt):
        train.run(cfg, callbacks=[StopAt(13)])
    assert not (cfg.adapter_dir / "adapter_model.safetensors").exists()  # nothing that looks finished
    assert (train.run_dir(cfg) / "checkpoints" / "checkpoint-10").exists()  # the resume point survives a crash
    report = train.run(cfg)
    assert report["resumed_from"].endswith("checkpoint-10")
    assert report["final_step"] == 25
    assert report["best_checkpoint"].startswith("checkpoint-")
    assert not (train.run_dir(cfg) / "checkpoints").exists()  # a finished run leaves its adapter, not ~1 GB of state


def test_resume_false_starts_over(prepared):
    cfg = prepared("train.epochs=1.0", "train.eval_steps=10", "train.save_steps=10")
    with pytest.raises(KeyboardInterrupt):
        train.run(cfg, callbacks=[StopAt(13)])
    fresh = make_cfg(cfg.outputs_dir.parent, "train.epochs=1.0", "train.eval_steps=10", "train.save_steps=10",
                     "train.resume=false", f"model.name={cfg.model.name}")
    assert train.run(fresh)["resumed_from"] is None


def test_a_changed_split_under_the_same_params_starts_a_fresh_run(prepared):
    cfg = prepared("train.epochs=1.0", "train.eval_steps=10", "train.save_steps=10")
    with pytest.raises(KeyboardInterrupt):
        train.run(cfg, callbacks=[StopAt(13)])
    before = train.run_dir(cfg)
    split = cfg.data_dir / "train.jsonl"
    split.write_text("".join(reversed(split.read_text().splitlines(keepends=True))))  # a new trn.json, same params
    assert train.run_dir(cfg) != before
    report = train.run(cfg)
    assert report["resumed_from"] is None  # not checkpoint-10 of the run on the old rows
    assert report["final_step"] == 25


def test_saved_adapter_reloads_with_peft_and_generates_the_same_text(prepared):
    from peft import PeftModel

    cfg = prepared("train.epochs=1.0")
    train.run(cfg)
    tokenizer = modeling.load_tokenizer(cfg, padding_side="left")
    live = PeftModel.from_pretrained(modeling.load_model(cfg), str(cfg.adapter_dir)).eval()
    titles = [{"title": "Girls Ballet Tutu Neon Pink"}, {"title": "Cast Iron Skillet 10 Inch"}]
    first = Predictor(cfg, live, tokenizer, adapter=True).generate(titles)  # PEFT's own loading, by hand
    again = Predictor.load(cfg, adapter=True)
    assert [g.text for g in first] == [g.text for g in again.generate(titles)]
    base = again.generate(titles, base=True)
    assert [g.text for g in base] != [g.text for g in first]  # the adapter changes what is written


def test_an_adapter_from_other_params_is_kept_not_overwritten(prepared, tmp_path):
    cfg = prepared("train.max_steps=3", "train.eval_steps=3", "train.save_steps=3")
    first = train.run(cfg)
    other = make_cfg(tmp_path, "train.max_steps=3", "train.eval_steps=3", "train.save_steps=3",
                     "train.learning_rate=1e-3", f"model.name={cfg.model.name}")
    train.run(other)
    kept = cfg.outputs_dir / "runs" / first["params_hash"]
    assert json.loads((kept / "training_report.json").read_text())["params_hash"] == first["params_hash"]
    assert (kept / "adapter_model.safetensors").exists()


class LiveModelAtTheEnd(TrainerCallback):
    """The trained model's parameters and logits on a batch once training ends (without accelerate's
    mixed-precision wrapper, as a reloaded model runs)."""

    def __init__(self, batch):
        self.batch, self.state, self.logits = batch, None, None

    def on_train_end(self, args, state, control, model=None, **kwargs):
        from accelerate.utils import extract_model_from_parallel

        model = extract_model_from_parallel(model, keep_fp32_wrapper=False).eval()
        self.state = {name: p.detach().clone() for name, p in model.named_parameters()}
        with torch.inference_mode():
            self.logits = model(**self.batch).logits.float()


def test_qlora_4bit_trains_and_reloads_as_the_very_model_it_trained(prepared):
    pytest.importorskip("bitsandbytes")
    from descgen import stages

    cfg = prepared("model.quantization=4bit", "model.dtype=bfloat16", "train.max_steps=4", "train.eval_steps=4",
                   "train.save_steps=4")
    tokenizer = modeling.load_tokenizer(cfg)
    examples = [vars(encode_example(tokenizer, cfg.prompt, r, 160)) for r in stages.read_split(cfg, "test")[:6]]
    batch = {k: v for k, v in losses.PadCollator(tokenizer.pad_token_id)(examples).items() if k != "labels"}
    live = LiveModelAtTheEnd(batch)
    report = train.run(cfg, callbacks=[live])
    assert report["final_step"] == 4 and report["quantization"] == "4bit"
    model = Predictor.load(cfg, adapter=True).model
    reloaded = dict(model.named_parameters())
    # training ran the unquantized parameters (norms, embeddings) in fp32: a reload that kept them bf16 was another
    # model (found at real size, bench/real_size.py)
    for name, trained in live.state.items():
        assert reloaded[name].dtype == trained.dtype and torch.equal(reloaded[name], trained), name
    with torch.inference_mode():
        logits = model(**batch).logits.float()
    # identical weights; the live bitsandbytes layers still differ from fresh ones in the last bits (~2e-3 here)
    assert (logits - live.logits).abs().max() < 2e-2


def test_merge_writes_a_plain_model_that_generates_like_the_adapter(prepared):
    from transformers import AutoModelForCausalLM

    cfg = prepared("train.max_steps=4", "train.eval_steps=2", "train.save_steps=2", "train.merge=true")
    train.run(cfg)
    merged_dir = cfg.adapter_dir / "merged"
    assert (merged_dir / "model.safetensors").exists() and (merged_dir / "tokenizer.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    adapted = Predictor.load(cfg, adapter=True)
    titles = [{"title": "Girls Ballet Tutu Neon Pink"}]
    as_merged = Predictor(cfg, merged, adapted.tokenizer, adapter=False)  # the merged folder is a plain model
    assert [g.text for g in as_merged.generate(titles, base=True)] == [g.text for g in adapted.generate(titles)]


def test_a_paged_8bit_optimizer_from_params_trains_on_cpu(prepared):
    pytest.importorskip("bitsandbytes")
    used = {}

    class Spy(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
            inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps it
            used["module"] = type(inner).__module__

    cfg = prepared("train.optim=paged_adamw_8bit", "train.max_steps=4", "train.eval_steps=2", "train.save_steps=2")
    report = train.run(cfg, callbacks=[Spy()])
    assert used["module"].startswith("bitsandbytes.optim")
    assert report["optim"] == "paged_adamw_8bit" and report["final_step"] == 4
    assert report["best_eval_loss"] < report["initial_eval_loss"]


def test_packing_is_refused_where_attention_would_cross_examples(prepared):
    from descgen.config import ConfigError

    cfg = prepared("train.packing=true")  # smoke: sdpa on CPU
    with pytest.raises(ConfigError, match="would let each attend to the others.*pip install flash-attn"):
        train.run(cfg)
    assert not (cfg.adapter_dir / "adapter_model.safetensors").exists()


def test_a_packed_batch_restarts_positions_and_keeps_each_description_and_its_end_tokens(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    examples = [encode_example(tokenizer, smoke_cfg.prompt, {"title": t, "content": d}, 160)
                for t, d in [("Tutu", "Pink and fluffy."), ("French Press", "Makes rich coffee every morning.")]]
    batch = losses.packing_collator()([dict(vars(e), length=len(e.input_ids)) for e in examples])
    first, second = (len(e.input_ids) for e in examples)
    assert batch["input_ids"].tolist() == [examples[0].input_ids + examples[1].input_ids]
    assert batch["position_ids"].tolist() == [list(range(first)) + list(range(second))]
    assert batch["labels"].tolist() == [[-100] + examples[0].labels[1:] + [-100] + examples[1].labels[1:]]
    assert batch["cu_seq_lens_q"].tolist() == [0, first, first + second]
    end_id, eos_id = tokenizer.convert_tokens_to_ids(["<|end|>", "<|endoftext|>"])
    labels = batch["labels"][0].tolist()
    assert labels[first - 2:first] == [end_id, eos_id] and labels[-2:] == [end_id, eos_id]  # both learn to stop
    # no target crosses from the first example into the second: its first label is masked
    assert labels[first] == -100


needs_flash_attention = pytest.mark.skipif(
    not torch.cuda.is_available() or __import__("importlib.util").util.find_spec("flash_attn") is None,
    reason="packing's equivalence needs a CUDA GPU with flash-attn (run it whenever one is available)")


@needs_flash_attention
def test_on_cuda_a_packed_batch_has_the_loss_of_its_examples_padded(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "model.attn_implementation=flash_attention_2", "model.dtype=bfloat16",
                   model_dir=tiny_model_dir)
    tokenizer = modeling.load_tokenizer(cfg)
    model = modeling.load_model(cfg).eval()
    rows = [{"title": t, "content": d} for t, d in [("Tutu", "Pink and fluffy."), ("Skillet", "Cast iron, 10 inch.")]]
    examples = [vars(encode_example(tokenizer, cfg.prompt, r, 160)) for r in rows]
    padded = {k: v.cuda() for k, v in losses.PadCollator(tokenizer.pad_token_id)(examples).items()}
    packed = {k: (v.cuda() if torch.is_tensor(v) else v) for k, v in losses.packing_collator()(examples).items()}
    with torch.inference_mode():
        total, count = losses.description_nll(model, padded["input_ids"], padded["attention_mask"], padded["labels"], 1024)
        extra = {k: v for k, v in packed.items() if k not in ("input_ids", "labels")}
        packed_total, packed_count = losses.description_nll(model, packed["input_ids"], None, packed["labels"], 1024,
                                                            **extra)
    assert packed_count == count
    assert abs(float(packed_total) - float(total)) <= 1e-2 * float(total)  # bf16 tolerance
