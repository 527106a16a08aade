"""Stage 3: LoRA / QLoRA fine-tune with transformers' Trainer + PEFT; adapter + report to modelo_finetuned/.

Memory on a 16 GB card (Phi-4-mini, bf16 LoRA r=16, micro-batch 8 × 512 tokens):
  frozen weights 3.84 B × 2 B                      = 7.7 GB
  LoRA 23.1 M × (4 B weight + 4 B grad + 8 B Adam)  = 0.37 GB
  checkpointed activations 32 × 8 × 512 × 3072 × 2 B = 0.8 GB, + one layer recomputed ≈ 0.5 GB
  logits: description tokens only, 1,024 at a time × 200,064 × 4 B = 0.8 GB (not 3.3 GB for the batch)
  ≈ 10 GB peak: room to spare on 16 GB. QLoRA (nf4) cuts the weights to ~3.2 GB for smaller cards.

The notebook (03_train_lora) calls `run(cfg)`; so does the command line, which is what a launcher starts:

    python -m descgen.train --profile smoke [--set train.learning_rate=1e-3 ...]
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import xxhash
import yaml

from . import config, distributed, local_models, model_card, modeling, progress, stages
from .config import Config, ConfigError
from .io import atomic_write_json, atomic_write_text, hash_into, read_json, replace_dir
from .losses import PadCollator, description_nll, packing_collator
from .modeling import unwrap_causal_lm
from .predictor import Prompter


# ------------------------------------------------------------------------------------------ data
TOKENIZE_BATCH = 1024  # split rows a tokenizing worker takes at a time


def tokenized(cfg: Config, split: str):
    """prepare's `split` as training examples (input_ids, prompt_length, length: length feeds length-grouped batching), an
    Arrow file built once, by process 0, and memory-mapped by every process: memory does not grow with the row count
    (1.3 M rows × ~260 tokens ≈ 2.7 GB of int32 stay on disk). (dataset, its stats)."""
    from datasets import Dataset

    path = tokenized_dir(cfg) / f"{split}.arrow"
    stats = path.with_suffix(".json")  # written last: its presence says the Arrow file is whole
    if distributed.is_main() and not stats.exists():
        build_tokenized(cfg, split, path)
    distributed.barrier()
    return Dataset.from_file(str(path)), read_json(stats)


def build_tokenized(cfg: Config, split: str, path: Path) -> dict:
    """Stream the split in batches through data.workers processes, each with its own tokenizer and prompter (the
    neighbours prepare found, cut to leave the description its room), and write the examples in split order."""
    import multiprocessing

    import pyarrow as pa

    # labels are the input ids after the prompt (PadCollator masks the first prompt_length): half the file and the work
    schema = pa.schema([("input_ids", pa.list_(pa.int32())), ("prompt_length", pa.int32()), ("length", pa.int32())])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    totals = {"rows": 0, "truncated": 0, "neighbours_shown": 0, "titles_cut": 0, "skipped": 0}
    source = stages.path(cfg, f"{split}_split")
    batches, total = _line_ranges(source, TOKENIZE_BATCH)
    meter = progress.Progress(f"tokenizing {split}", total)
    context = multiprocessing.get_context("fork")
    workers = min(cfg.data.workers, max(1, total // TOKENIZE_BATCH))
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        if workers > 1:
            with context.Pool(workers, initializer=_tokenizer_worker, initargs=(cfg, split)) as pool:
                done = pool.imap(_tokenize_batch, batches)
                _collect(done, writer, schema, totals, meter)
        else:
            _tokenizer_worker(cfg, split, single_threaded=False)
            _collect(map(_tokenize_batch, batches), writer, schema, totals, meter)
    meter.close()
    tmp.replace(path)
    atomic_write_json(path.with_suffix(".json"), totals)
    return totals


_WORKER: dict = {}


def _tokenizer_worker(cfg: Config, split: str, single_threaded: bool = True) -> None:
    import os

    if single_threaded:  # one tokenizing process per core: its Rust encoder's own threads would only contend
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    tokenizer = modeling.load_tokenizer(cfg, padding_side="right")
    _WORKER.update(cfg=cfg, split=split, tokenizer=tokenizer, prompter=Prompter(cfg, tokenizer))


def _tokenize_batch(lines: tuple[str, int, int]) -> tuple[dict, dict]:
    """A batch of the split's lines (file, first byte, end byte: each worker reads and parses its own) as examples in
    flat numpy arrays (what crosses between processes: ~100x cheaper to pickle than lists of Python ints): the token
    ids end to end, where each example starts, its prompt length and its length."""
    import numpy as np
    import orjson

    path, start, end = lines
    with open(path, "rb") as fh:
        fh.seek(start)
        rows = [orjson.loads(line) for line in fh.read(end - start).splitlines() if line.strip()]
    made = _WORKER["prompter"].examples(rows, _WORKER["split"])
    examples = made.examples
    lengths = np.array([len(e.input_ids) for e in examples], np.int32)
    columns = {"ids": np.concatenate([np.asarray(e.input_ids, np.int32) for e in examples] or [np.zeros(0, np.int32)]),
               "offsets": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32),
               "prompt_length": np.array([e.prompt_length for e in examples], np.int32), "length": lengths}
    return columns, {"rows": len(rows), "truncated": sum(e.truncated for e in examples),
                     "neighbours_shown": sum(len(r.get("neighbours") or ()) for r in made.rows),
                     "titles_cut": made.titles_cut, "skipped": len(made.skipped)}


def _collect(done, writer, schema, totals: dict, meter) -> None:
    import pyarrow as pa

    for columns, counts in done:
        input_ids = pa.ListArray.from_arrays(pa.array(columns["offsets"]), pa.array(columns["ids"]))
        writer.write_batch(pa.record_batch([input_ids, pa.array(columns["prompt_length"]), pa.array(columns["length"])],
                                           schema=schema))
        for key, value in counts.items():
            totals[key] += value
        meter.update(counts["rows"])


def _line_ranges(path: Path, size: int) -> tuple[list[tuple[str, int, int]], int]:
    """(path, first byte, end byte) of every `size` lines of a JSONL file, and its line count: found from the newline
    positions, 16 MiB at a time, without parsing a line."""
    import numpy as np

    ends, offset = [], 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            ends.append(np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + offset + 1)
            offset += len(block)
    ends = np.concatenate(ends) if ends else np.zeros(0, np.int64)
    if offset and (not len(ends) or ends[-1] != offset):
        ends = np.append(ends, offset)  # a last line without its newline
    bounds = [0] + ends[size - 1::size].tolist()
    if bounds[-1] != offset:
        bounds.append(offset)
    return [(str(path), a, b) for a, b in zip(bounds, bounds[1:])], len(ends)


def make_trainer_class():
    from transformers import Trainer

    class DescriptionTrainer(Trainer):
        """Trainer whose loss covers description tokens only, computed in chunks; counts tokens for the report."""

        loss_chunk_tokens = 1024
        tokens_seen = 0
        target_tokens_seen = 0
        train_started: float | None = None  # the first training step's clock (this process, this run)

        def _get_train_sampler(self, train_dataset=None):
            # transformers reads the length column as datasets' lazy Column, and its sampler then sorts by indexing it
            # one row at a time, an Arrow slice each: at 1.48 M rows no step had started after 4 min (py-spy:
            # get_length_grouped_indices). The column read in one go is a list of ints, ~0.1 s.
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            name = self.args.length_column_name
            if self.args.train_sampling_strategy == "group_by_length" and name in getattr(dataset, "column_names", ()):
                from transformers.trainer_pt_utils import LengthGroupedSampler

                lengths = dataset.select_columns([name]).with_format("arrow")[:][name].to_pylist()
                return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                            lengths=lengths)
            return super()._get_train_sampler(train_dataset)

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            # tokens/s beside the loss: in the progress lines, log_history and TensorBoard alike (all processes'
            # tokens: each process counts its own, and they run at one pace)
            if "loss" in logs and self.train_started is not None:
                elapsed = time.perf_counter() - self.train_started
                logs["tokens_per_s"] = round(self.tokens_seen * self.args.world_size / max(elapsed, 1e-9), 1)
            super().log(logs, start_time)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # a packed batch has no attention mask: position ids and sequence bounds keep its examples apart
            packed = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "labels")}
            mask = inputs.get("attention_mask")
            total, count = description_nll(unwrap_causal_lm(model), inputs["input_ids"], mask,
                                           inputs["labels"], self.loss_chunk_tokens, **packed)
            if model.training:
                if self.train_started is None:
                    self.train_started = time.perf_counter()
                self.tokens_seen += int(mask.sum()) if mask is not None else inputs["input_ids"].numel()
                self.target_tokens_seen += count
            # With grad accumulation the Trainer passes the description-token count of the whole accumulated
            # batch: dividing by it weights every token equally across micro-batches.
            denominator = num_items_in_batch if num_items_in_batch is not None else max(count, 1)
            loss = total / denominator
            if num_items_in_batch is not None and self.args.average_tokens_across_devices:
                # With N processes the count is the sum over all of them, and DDP averages the N gradients: × N
                # makes the step the token-weighted mean over the whole batch (the Trainer's own loss does the same)
                loss = loss * self.accelerator.num_processes
            return (loss, {"loss": loss}) if return_outputs else loss

    return DescriptionTrainer


def make_progress_callback():
    from transformers import TrainerCallback

    class ProgressLines(TrainerCallback):
        """One short line at a steady rate while training (descgen/progress.py): step/total, the last loss, eval loss
        when computed, learning rate, tokens/s, elapsed and time left. Process 0 only."""

        def __init__(self):
            self.meter = None
            self.fields: dict = {}

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.meter = progress.Progress("train", state.max_steps, unit="steps", enabled=not progress.use_bars())
                self.meter.done = state.global_step  # a resumed run starts where its checkpoint was
                self.start_step = state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.meter is None or not logs:
                return
            for key, name in (("loss", "loss"), ("eval_loss", "eval_loss"), ("learning_rate", "lr"),
                              ("tokens_per_s", "tok/s")):
                if key in logs:
                    self.meter.fields[name] = logs[key]
            if "eval_loss" in logs:
                self.meter.print_line()  # an evaluation is news: say it at once
            elif "loss" in logs:
                self.meter.tick()

        def on_step_end(self, args, state, control, **kwargs):
            if self.meter is not None:
                # a logging step prints after its log (on_log), with the step's own loss
                self.meter.update(state.global_step - self.meter.done,
                                  quiet=state.global_step % args.logging_steps == 0)

        def on_train_end(self, args, state, control, **kwargs):
            if self.meter is not None:
                self.meter.close()

    return ProgressLines()


def tensorboard_dir(cfg: Config) -> Path:
    """TensorBoard event files of this run (train loss, eval loss, learning rate, tokens/s):
    `tensorboard --logdir outputs/tensorboard`."""
    return cfg.outputs_dir / "tensorboard" / "train" / run_dir(cfg).name


def tensorboard_callback(cfg: Config):
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    if not distributed.is_main():
        return None
    return TensorBoardCallback(SummaryWriter(log_dir=str(tensorboard_dir(cfg))))


# ------------------------------------------------------------------------------------------ the stage
def run_dir(cfg: Config) -> Path:
    """Checkpoints of one configuration on one data split: a changed param, or a trn.json that changed under the
    same params (so prepare wrote other rows), starts a new folder instead of resuming a foreign run and reusing
    its initial eval loss. So do other neighbours (another catalogue). The splits hash fast (20 k rows ≈ 20 MB: ~10
    ms; the whole file's 1.3 M rows ≈ 1.2 GB: ~0.4 s)."""
    return cfg.outputs_dir / "train" / _split_digest(cfg, TRAIN_PARAMS)


def _split_digest(cfg: Config, params) -> str:
    """A hash of `params` and of the train and validation splits (and their neighbours) prepare wrote."""
    digest = xxhash.xxh3_64(cfg.section_hash(*params).encode())
    for name in ("train_split", "validation_split") + (stages.NEIGHBOURS if cfg.retrieval.k else ()):
        path = stages.path(cfg, name)
        digest.update(name.encode())
        if path.exists():
            hash_into(digest, path)
    return digest.hexdigest()


# what a training example is made of: the tokenizer, the prompt, its neighbours and the sequence length. Not the
# optimizer, LoRA or step counts: another learning rate reuses the examples (1.48 M rows take ~8 min to tokenize on
# 2 cores, docs/benchmarks.md).
EXAMPLE_PARAMS = ("model.name", "model.revision", "model.build", "prompt", "retrieval", "train.max_seq_len")


def tokenized_dir(cfg: Config) -> Path:
    """The tokenized splits of one example recipe (EXAMPLE_PARAMS) on one data split and its neighbours, shared by
    every run that trains on them."""
    return cfg.outputs_dir / "train" / "examples" / _split_digest(cfg, EXAMPLE_PARAMS)


TRAIN_PARAMS = stages.BY_NAME["train"].params  # the pipeline's key for this stage, so both agree on what is "the same run"


def training_arguments(cfg: Config, output_dir: Path):
    from transformers import TrainingArguments

    t = cfg.train
    dtype = modeling.compute_dtype(cfg)
    on_gpu = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.micro_batch_size,
        per_device_eval_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=t.weight_decay,
        optim=t.optim,
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=t.logging_steps,
        activation_checkpointing=t.gradient_checkpointing,  # transformers 5's name; gradient_checkpointing goes in v6
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        bf16=dtype == torch.bfloat16,
        fp16=on_gpu and dtype == torch.float16,
        use_cpu=not on_gpu,
        seed=t.seed,
        data_seed=t.seed,
        prediction_loss_only=True,
        remove_unused_columns=False,
        report_to="none",  # TensorBoard is our own callback, writing where README says
        disable_tqdm=not progress.use_bars(),  # Jupyter: the Trainer's bar; elsewhere ProgressLines' plain lines
        dataloader_num_workers=0,
    )


def check_packing(cfg: Config) -> None:
    """train.packing needs attention that keeps packed examples apart; refuse before loading anything otherwise,
    never train with examples silently attending to each other."""
    if not cfg.train.packing:
        return
    attention = cfg.model.attn_implementation or "sdpa"
    if not attention.startswith("flash_attention"):
        raise ConfigError(
            f"train.packing: true puts a micro-batch's examples in one sequence, and model.attn_implementation "
            f"{attention!r} would let each attend to the others. It needs flash-attention's varlen kernels: on a "
            "CUDA machine `pip install flash-attn` and --set model.attn_implementation=flash_attention_2; "
            "elsewhere keep train.packing: false (length grouping)")
    import importlib.util

    if attention == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ConfigError("model.attn_implementation: flash_attention_2 needs the flash-attn package "
                          "(`pip install flash-attn`, CUDA only)")


def run(cfg: Config, callbacks: list | None = None) -> dict:
    """Train (resuming when a checkpoint of the same configuration exists); write the adapter folder.

    With train.num_processes > 1 (and not already one of them) the training runs in that many processes started by
    `accelerate launch -m descgen.train` with these exact params; this process shows their output and returns the
    report they wrote."""
    check_packing(cfg)
    for split in ("train_split", "validation_split"):  # before a tokenizer or processes start: say what is missing
        stages.require(cfg, split)
    if cfg.train.num_processes > 1 and not distributed.launched():
        return launch(cfg)
    return _train(cfg, callbacks)


def launch(cfg: Config) -> dict:
    distributed.relaunch(cfg, "descgen.train", cfg.train.num_processes)
    return read_report(cfg)


def _train(cfg: Config, callbacks: list | None = None) -> dict:
    """The training run in this process, step by step: where to resume, the model, the data, the Trainer, the
    initial eval loss, training, the report; process 0 writes the adapter."""
    started = time.perf_counter()
    folder, last = resume_point(cfg)
    tokenizer = modeling.load_tokenizer(cfg, padding_side="right")
    data = training_data(cfg)  # before the model: the tokenizing workers are forked from a small process
    model = lora_model(cfg)
    trainer = make_trainer(cfg, model, tokenizer, data, folder / "checkpoints", callbacks)
    initial_eval_loss = initial_eval(trainer, folder)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    output = trainer.train(resume_from_checkpoint=last)
    best_eval_loss = trainer.state.best_metric
    if best_eval_loss is None:  # fewer steps than one eval interval
        best_eval_loss = trainer.evaluate()["eval_loss"]
    report = training_report(cfg, trainer, model, data, started, output.metrics.get("train_runtime"),
                             initial_eval_loss=initial_eval_loss, best_eval_loss=best_eval_loss, resumed_from=last)
    log_history = trainer.state.log_history
    if not trainer.is_world_process_zero():
        return report  # rank 0 alone writes the adapter, tokenizer, report, log history and model card
    checkpoints = folder / "checkpoints"
    save_adapter(cfg, model, tokenizer, report, log_history)
    # The adapter now holds the best weights. The checkpoints only served resuming an unfinished run, and each
    # weighs adapter + two Adam moments + RNG state (Phi-4-mini, r=16: 23.1 M params × 12 B ≈ 280 MB) times up to
    # save_total_limit + the best one: ~1 GB per finished run, left behind by every params change otherwise.
    shutil.rmtree(checkpoints, ignore_errors=True)
    if cfg.train.merge:
        merge_adapter(cfg)
    return report


def resume_point(cfg: Config) -> tuple[Path, str | None]:
    """This configuration's run folder and the checkpoint to resume from (None: start; train.resume false clears
    the old checkpoints)."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = run_dir(cfg)
    checkpoints = folder / "checkpoints"
    if not cfg.train.resume and checkpoints.exists() and distributed.is_main():
        shutil.rmtree(checkpoints)
    distributed.barrier()
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.exists() else None
    if last:
        print(f"resuming from {last}", flush=True)
    return folder, last


def lora_model(cfg: Config):
    """The base model in compute_dtype (nf4 for QLoRA) with fresh LoRA adapters on lora.target_modules, drawn from
    train.seed. (The Trainer seeds only once the model exists: unseeded, every run started from other LoRA weights,
    and four cpu runs of one commit and sample logged step-10 losses 3.0619, 3.0611, 3.0523 and 3.0600.)"""
    from transformers import set_seed

    set_seed(cfg.train.seed)
    model = modeling.apply_lora(modeling.load_model(cfg, training=True), cfg)
    trainable, total = modeling.count_parameters(model)
    print(f"trainable parameters: {trainable:,} of {total:,} ({trainable / total:.2%})", flush=True)
    return model


@dataclass
class TrainingData:
    train_set: object          # datasets.Dataset: input_ids, labels, length
    eval_set: object
    train_truncated: int       # rows whose description was cut at train.max_seq_len
    neighbours_shown: int      # neighbours in the training prompts (retrieval.k > 0)
    # per split (train, validation): titles cut to prompt.max_title_tokens, and rows skipped because their prompt left
    # no room for their description (prompts.training_examples): counted, never raised
    titles_cut: dict
    rows_skipped: dict


def training_data(cfg: Config) -> TrainingData:
    """prepare's train and validation splits as tokenized examples on disk (`tokenized`). With retrieval.k > 0 each
    row shows its nearest catalogue rows (the predictor's prompter, as at generation), cut so its own description
    still fits."""
    train_set, train_stats = tokenized(cfg, "train")
    eval_set, eval_stats = tokenized(cfg, "validation")
    stats = {"train": train_stats, "validation": eval_stats}
    return TrainingData(train_set, eval_set, train_stats["truncated"], train_stats["neighbours_shown"],
                        {k: v["titles_cut"] for k, v in stats.items()}, {k: v["skipped"] for k, v in stats.items()})


def make_trainer(cfg: Config, model, tokenizer, data: TrainingData, checkpoints: Path, callbacks: list | None):
    from transformers import EarlyStoppingCallback

    trainer = make_trainer_class()(
        model=model,
        args=training_arguments(cfg, checkpoints),
        train_dataset=data.train_set,
        eval_dataset=data.eval_set,
        data_collator=packing_collator() if cfg.train.packing else PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=([EarlyStoppingCallback(cfg.train.early_stopping_patience)]
                   if cfg.train.early_stopping_patience > 0 else [])
        + [c for c in (make_progress_callback(), tensorboard_callback(cfg)) if c is not None] + list(callbacks or []),
    )
    trainer.loss_chunk_tokens = cfg.train.loss_chunk_tokens
    if not progress.use_bars():
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # its raw dicts repeat what ProgressLines says in one line
    return trainer


def initial_eval(trainer, folder: Path) -> float:
    """The eval loss before any step (the report's "before"), computed once per run folder: a resumed run reads it."""
    initial_path = folder / "initial_eval.json"
    if initial_path.exists():
        return read_json(initial_path)["eval_loss"]
    # every process evaluates (a collective); rank 0 writes only after all have checked the file above
    loss = trainer.evaluate()["eval_loss"]
    if trainer.is_world_process_zero():
        atomic_write_json(initial_path, {"eval_loss": loss})
    return loss


def training_report(cfg: Config, trainer, model, data: TrainingData, started: float, runtime: float | None,
                    **losses) -> dict:
    runtime = runtime or (time.perf_counter() - started)
    world_size = trainer.args.world_size
    trainable, total = modeling.count_parameters(model)
    tokens, targets = total_over_processes(trainer.tokens_seen, trainer.target_tokens_seen)
    best = trainer.state.best_model_checkpoint
    return {
        "base_model": cfg.model.name,
        "quantization": cfg.model.quantization,
        "optim": cfg.train.optim,
        "packing": cfg.train.packing,
        "compute_dtype": modeling.dtype_name(cfg),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "trainable_params": trainable,
        "total_params": total,
        "target_modules": list(cfg.lora.target_modules),
        "adapted_modules": modeling.adapted_modules(model),
        "train_rows": len(data.train_set),
        "train_rows_truncated": data.train_truncated,
        "validation_rows": len(data.eval_set),
        "retrieval_k": cfg.retrieval.k,
        "train_neighbours_shown": data.neighbours_shown,
        "titles_cut": data.titles_cut,       # {train, validation}: titles over prompt.max_title_tokens, cut
        "rows_skipped": data.rows_skipped,   # {train, validation}: no room for the description: not trained on
        "initial_eval_loss": losses["initial_eval_loss"],
        "best_eval_loss": losses["best_eval_loss"],
        "best_checkpoint": Path(best).name if best else None,
        "final_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "resumed_from": losses["resumed_from"],
        "train_s": runtime,
        "world_size": world_size,
        # rows per optimizer step: micro-batch × grad_accum × processes
        "effective_batch": cfg.train.micro_batch_size * cfg.train.grad_accum * world_size,
        "train_tokens_per_s": tokens / runtime,
        "description_tokens_per_s": targets / runtime,
        "peak_memory_bytes": peak_memory_bytes(),
        "wall_s": time.perf_counter() - started,
        "params_hash": cfg.section_hash(*TRAIN_PARAMS),
    }


def total_over_processes(*counts: int) -> list[int]:
    """Each count summed over the training processes (itself alone in one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return list(counts)
    values = torch.tensor(counts, dtype=torch.float64)
    dist.all_reduce(values)
    return [int(v) for v in values.tolist()]


def peak_memory_bytes() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def save_adapter(cfg: Config, model, tokenizer, report: dict, log_history: list) -> Path:
    """Write the adapter folder next to the final one, then swap it in; a finished adapter from other
    params is moved to outputs/runs/<its params hash>/ first, never silently overwritten."""
    final = cfg.adapter_dir
    staging = final.with_name(f".{final.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    atomic_write_text(staging / stages.ARTIFACTS["params_used"].file,
                      yaml.safe_dump(cfg.raw, sort_keys=False, allow_unicode=True))
    atomic_write_json(staging / stages.ARTIFACTS["log_history"].file, log_history)
    atomic_write_json(staging / stages.ARTIFACTS["training_report"].file, report)
    model_card.write(cfg, report, staging, scores=False)  # PEFT's generic card replaced by ours: what, how, how well
    archive_foreign_adapter(cfg, report["params_hash"])
    for keep in (".gitkeep",):
        if (final / keep).exists():
            shutil.copy2(final / keep, staging / keep)
    return replace_dir(staging, final)


def archive_foreign_adapter(cfg: Config, params_hash: str) -> Path | None:
    final = cfg.adapter_dir
    old_report = stages.path(cfg, "training_report")
    if not old_report.exists():
        return None
    old_hash = read_json(old_report).get("params_hash")
    if old_hash == params_hash:
        return None
    target = cfg.outputs_dir / "runs" / str(old_hash)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(final, target)
    print(f"kept the previous adapter (other params) in {target}", flush=True)
    return target


def merge_adapter(cfg: Config) -> Path:
    """Base weights in bf16/fp16 (never 4-bit) + the adapter, merged and saved as one model."""
    from dataclasses import replace

    from peft import PeftModel

    plain = replace(cfg, model=replace(cfg.model, quantization="none"))
    base = modeling.load_model(plain)
    merged = PeftModel.from_pretrained(base, str(cfg.adapter_dir)).merge_and_unload()
    out = cfg.adapter_dir / "merged"
    merged.save_pretrained(str(out), safe_serialization=True)
    modeling.load_tokenizer(cfg).save_pretrained(str(out))
    return out


# ------------------------------------------------------------------------------------------ notebook helpers
def read_report(cfg: Config) -> dict:
    return read_json(stages.require(cfg, "training_report"))


def loss_curves(cfg: Config):
    """Train and eval loss against step, from the saved log history."""
    import matplotlib.pyplot as plt

    history = read_json(stages.require(cfg, "log_history"))
    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("description-token NLL")
    ax.legend()
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ command line
@stages.command("train")
def main(argv: list[str] | None = None) -> int:
    """`python -m descgen.train`: the stage outside a notebook (what `accelerate launch` / `torchrun` start)."""
    cfg = config.from_command_line("python -m descgen.train", "Train the LoRA adapter (stage 3) and write "
                                   "modelo_finetuned/ as 03_train_lora does.", argv)
    local_models.ensure_for(cfg)
    report = run(cfg)
    if distributed.is_main():
        print(json.dumps({k: report[k] for k in ("initial_eval_loss", "best_eval_loss", "final_step", "world_size",
                                                 "wall_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
