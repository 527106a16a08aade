"""Describe a catalogue: a description for every product of a file, as a resumable batch job.

    python -m descgen.describe --profile P --input dataset/trn.json --missing-only --output described.jsonl
    python -m descgen.describe --input titles.csv --output out.jsonl --limit 1000 --base
    printf 'French Press 34 oz\\nGirls Ballet Tutu\\n' | python -m descgen.describe --input - --output out.jsonl

Input: trn.json's format (JSON Lines, plain or .gz, read a block at a time with prepare's malformed-line
accounting), a JSONL or CSV with a `title` column (`uid`, `content` optional), or `-`: one title a line on stdin.
`--missing-only` keeps the rows whose content is empty after cleaning: the catalogue's gap (a third of trn.json).

Each row gets the system compare scores as `gated` (descgen/predictor.py `answer`): the nearest catalogue row's
description, made this product's, where the copy-or-write gate (gate.json beside the adapter, fitted by compare)
finds it this product's text with the promised precision (gate.min_precision); else the fine-tune's text with
compare's prompt, neighbours (the whole catalogue, validation and test rows included: never the row itself), decoding
and stop tokens, cut back to its last whole sentence. So for a test row describe writes compare's prediction.
`--write-only` writes every row with the fine-tune (compare's `finetuned`), `--base` with the base model (compare's
`baseline_rag`). Output, in input order, one JSON line a row: uid, title, description, source (copied | written),
p_same_product (the gate's probability that the nearest description is this product's), copied_uid and similarity
(copied), stopped and new_tokens (written), unsupported (facts its sources do not state: descgen/facts.py),
neighbours (the uids a prompt showed). Beside it OUT.summary.json: rows read, written, copied, skipped by cause with
line numbers, the whole-sentence rate, the gate's promise, rows/s, tokens/s, the adapter, the gate and the params
hash.

Resumable, nothing lost: rows are read in chunks of describe.chunk_rows; a finished chunk is appended to OUT and
flushed to disk, then OUT.progress.json records it. After a crash (or kill -9) a rerun cuts OUT back to the last
recorded chunk and continues: the final file equals an uninterrupted run's. An OUT made by another adapter,
params, input or flags is refused, never mixed.

Scale: `--num-processes N` (accelerate launch, one process per GPU) gives whole chunks to the processes in turn and
rank 0 writes them in order; `--engine vllm` sends the same prompts through vLLM (`pip install -e .[vllm]`).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import orjson
import xxhash

from . import config, distributed, local_models, modeling, retrieval, sentences, stages
from .clean import clean_text
from .config import Config, ConfigError
from .generate import Generation, decoding_kwargs
from .io import atomic_write_json, hash_into, read_json
from . import gate as gate_module
from .predictor import Answer, Predictor, Prompter, answer_rows
from .progress import Progress
from .scan import EXAMPLES_PER_REASON, read_records

# what the output depends on: a change to any of these makes another file, so an old OUT is refused
DESCRIBE_PARAMS = ("model", "prompt", "eval", "retrieval", "gate", "train.max_seq_len", "describe", "data.decode_html",
                   "data.strip_tags")


# ------------------------------------------------------------------------------------------ reading
@dataclass
class Skips:
    """Rows not described, by cause, with the first line numbers of each (as prepare reports malformed lines)."""
    counts: Counter = field(default_factory=Counter)
    lines: dict = field(default_factory=dict)
    records: int = 0  # input lines (records) read

    def add(self, cause: str, line: int) -> None:
        self.counts[cause] += 1
        seen = self.lines.setdefault(cause, [])
        if len(seen) < EXAMPLES_PER_REASON:
            seen.append(line)


def _csv_records(path: Path) -> Iterator[tuple[int, object]]:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        if "title" not in (reader.fieldnames or ()):
            raise ConfigError(f"{path}: a CSV input needs a 'title' column (it has: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            yield reader.line_num, row


def _stdin_records(stream) -> Iterator[tuple[int, object]]:
    for line, text in enumerate(stream, 1):
        yield line, {"title": text.rstrip("\n")}


def read_rows(source: str, cfg: Config, skips: Skips, missing_only: bool, stdin=None) -> Iterator[dict]:
    """The rows to describe, in input order: {line, uid, title, content}. Everything else is counted in `skips`."""
    if source == "-":
        records = _stdin_records(stdin or sys.stdin)
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"--input {source}: no such file")
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        records = _csv_records(path) if name.endswith(".csv") else read_records(path, cfg.data.read_block_bytes)
    decode, strip = cfg.data.decode_html, cfg.data.strip_tags
    for line, record in records:
        skips.records += 1
        if isinstance(record, str):  # a line orjson refused: blank_line / invalid_utf8 / invalid_json
            skips.add(record, line)
            continue
        if not isinstance(record, dict):
            skips.add("not_an_object", line)
            continue
        title, content = record.get("title"), record.get("content") or ""
        if not isinstance(title, str):
            skips.add("bad_title", line)
            continue
        if not isinstance(content, str):
            skips.add("bad_content", line)
            continue
        title = clean_text(title, decode, strip)
        if not title:
            skips.add("empty_title", line)
            continue
        content = clean_text(content, decode, strip)
        if missing_only and content:
            skips.add("has_content", line)  # not an error: --missing-only describes only the catalogue's gap
            continue
        uid = record.get("uid")
        yield {"line": line, "uid": str(uid) if uid not in (None, "") else f"line-{line}", "title": title,
               "content": content}


def chunks(rows: Iterator[dict], size: int, limit: int | None) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in itertools.islice(rows, limit):  # stops reading at the limit: nothing past it is looked at
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ------------------------------------------------------------------------------------------ engines
class HFEngine:
    """transformers' generate through the predictor: the texts compare shows for the same rows."""

    name = "hf"

    def __init__(self, cfg: Config, base: bool, write_only: bool):
        self.predictor = Predictor.load(cfg, adapter=not base)
        self.tokenizer, self.base, self.write_only = self.predictor.tokenizer, base, write_only or base
        self.lora_weights = self.predictor.lora_weights
        self.promise = None
        if not self.write_only:  # read now: a missing gate.json is said before any row is read
            self.promise = self.predictor.gate.promise()

    def __call__(self, rows: list[dict]) -> list[Answer]:
        # each process describes whole chunks of its own (run()), so no process splits a chunk's batches with another
        if self.base:  # the base model shown the same neighbours, every row written: compare's baseline_rag
            return answer_rows(self.predictor.prompter, None, rows, None,
                               lambda prompted: self.predictor.generate(prompted, base=True, spread=False))
        return self.predictor.answer(rows, write_only=self.write_only, spread=False)


class VLLMEngine:
    """vLLM's offline `LLM.generate` with the adapter as a LoRARequest, handed the prompts the predictor's prompter
    builds (the same neighbours, prompt and stop tokens). vLLM has no `no_repeat_ngram_size`; eval.repetition_penalty
    is passed, and the summary says what was not applied."""

    name = "vllm"

    def __init__(self, cfg: Config, base: bool, write_only: bool):
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError as exc:
            raise SystemExit("describe --engine vllm needs vLLM, an optional extra for CUDA machines: "
                             f"pip install -e .[vllm]  ({exc})") from exc
        if cfg.retrieval.k:
            retrieval.check_ready(cfg)
        self.tokenizer = modeling.load_tokenizer(cfg, padding_side="left")
        self.prompter = Prompter(cfg, self.tokenizer)
        from transformers import GenerationConfig

        try:
            generation = GenerationConfig.from_pretrained(cfg.model_path, revision=cfg.model.revision)
            eos = generation.eos_token_id
        except OSError:
            eos = None
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.stop_ids = sorted(set(eos + [self.tokenizer.eos_token_id]) - {None})
        settings = decoding_kwargs(cfg.eval, self.stop_ids, self.tokenizer.pad_token_id)
        self.sampling = SamplingParams(
            max_tokens=settings["max_new_tokens"], stop_token_ids=self.stop_ids,
            temperature=settings["temperature"] if settings["do_sample"] else 0.0,
            top_p=settings["top_p"] if settings["do_sample"] else 1.0,
            repetition_penalty=settings["repetition_penalty"], seed=cfg.eval.seed)
        self.not_applied = (["no_repeat_ngram_size"] if cfg.eval.no_repeat_ngram_size else [])
        self.lora_weights = None if base else "vllm-lora"  # vLLM's own LoRA kernels, unchanged
        self.lora = None if base else LoRARequest("descgen", 1, str(stages.require(cfg, "adapter_config").parent))
        self.gate = None if base or write_only else gate_module.read(stages.require(cfg, "gate"))
        self.promise = self.gate.promise() if self.gate is not None else None
        self.llm = LLM(model=cfg.model_path, revision=cfg.model.revision, dtype=modeling.dtype_name(cfg),
                       enable_lora=not base, max_lora_rank=max(cfg.lora.r, 8),
                       max_model_len=cfg.train.max_seq_len + cfg.eval.max_new_tokens, seed=cfg.eval.seed)

    def __call__(self, rows: list[dict]) -> list[Answer]:
        return answer_rows(self.prompter, self.gate, rows, None, self.generate)

    def generate(self, prompted: list[dict]) -> list[Generation]:
        outputs = self.llm.generate(self.prompter.prompts(prompted), self.sampling, lora_request=self.lora,
                                    use_tqdm=False)
        results = []
        for out in outputs:
            first = out.outputs[0]
            ids = list(first.token_ids)
            end = next((i for i, t in enumerate(ids) if t in self.stop_ids), len(ids))
            results.append(Generation(text=first.text.strip(), stopped=first.finish_reason == "stop", new_tokens=end))
        return results


ENGINES = {"hf": HFEngine, "vllm": VLLMEngine}


# ------------------------------------------------------------------------------------------ identity and resume
def adapter_digest(cfg: Config, base: bool) -> str:
    """What the descriptions come from: 'base' or the adapter weights' hash."""
    if base:
        return "base"
    digest = xxhash.xxh3_64()
    hash_into(digest, stages.require(cfg, "adapter_weights"))
    return digest.hexdigest()


def gate_digest(cfg: Config) -> str:
    """The copy-or-write gate the rows are decided by (gate.json beside the adapter, written by compare)."""
    try:
        return hash_into(xxhash.xxh3_64(), stages.require(cfg, "gate")).hexdigest()
    except stages.MissingArtifact as exc:
        raise stages.MissingArtifact(f"{exc}; or --write-only for the fine-tune's text on every row") from None


def params_hash(cfg: Config) -> str:
    """DESCRIBE_PARAMS' hash, with the model named by its resolved path (`models/tiny-phi3` from the repo root and
    its absolute path are one model) and the dtype `model.dtype: auto` resolves to on this machine."""
    import hashlib

    picked = {"params": cfg.section_hash(*(p for p in DESCRIBE_PARAMS if p != "model")),
              "model": dict(cfg.raw["model"], name=cfg.model_path), "compute_dtype": modeling.dtype_name(cfg)}
    return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()[:16]


EDGE_BYTES = 1 << 20  # an input is known by its path, size, mtime and a hash of its first and last MiB


def input_identity(source: str) -> dict | str:
    """Which input an OUT was made from: a file by path, size, mtime and the xxh3 of its first and last MiB (a
    1.9 GB trn.json is not read whole to resume); stdin by name."""
    if source == "-":
        return "-"
    path = Path(source).resolve()
    stat = path.stat()
    digest = xxhash.xxh3_64()
    with open(path, "rb") as fh:
        digest.update(fh.read(EDGE_BYTES))
        if stat.st_size > EDGE_BYTES:
            fh.seek(max(stat.st_size - EDGE_BYTES, EDGE_BYTES))
            digest.update(fh.read())
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "edges_xxh3": digest.hexdigest()}


def identity(cfg: Config, args: argparse.Namespace) -> dict:
    if args.input != "-" and not Path(args.input).exists():
        raise ConfigError(f"--input {args.input}: no such file")
    ident = {"adapter": adapter_digest(cfg, args.base), "params_hash": params_hash(cfg),
             "input": input_identity(args.input), "missing_only": bool(args.missing_only), "engine": args.engine,
             "gate": "none" if args.base or args.write_only else gate_digest(cfg)}
    if cfg.retrieval.k:
        ident["neighbours"] = retrieval.source_digest(cfg)
    return ident


def progress_path(output: Path) -> Path:
    return output.with_name(output.name + ".progress.json")


def summary_path(output: Path) -> Path:
    stem = output.name[:-len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(stem + ".summary.json")


COUNTERS = ("rows_written", "new_tokens", "stopped", "unsupported_rows", "titles_truncated", "copied", "swapped_rows",
            "fact_replaced_rows", "dropped_rows", "whole_rows", "empty_rows")


def resume_point(output: Path, ident: dict) -> dict:
    """{chunks, bytes, counters, generate_s} of the run to continue (zeros for a new one). Refuses an OUT from
    another run: any of `ident`'s keys that differs (`ident` may leave out what is known only once the model is
    loaded: `run` compares it with `refuse_other` once the engine is loaded)."""
    state_file = progress_path(output)
    if not output.exists():
        state_file.unlink(missing_ok=True)
        return {"chunks": 0, "bytes": 0, "generate_s": 0.0, **{k: 0 for k in COUNTERS}}
    if not state_file.exists():
        raise SystemExit(f"describe: {output} exists but has no {state_file.name}: it was not written by describe "
                         "(or by an older one); choose another --output or remove it")
    state = read_json(state_file)
    refuse_other(output, {k: v for k, v in state["identity"].items() if k not in LOADED_IDENTITY or k in ident}, ident)
    return state


LOADED_IDENTITY = ("lora_weights",)  # identity known once the engine is loaded: how the fine-tune's weights ran


def refuse_other(output: Path, there: dict, here: dict) -> None:
    if there != here:
        differ = {k: (there.get(k), here.get(k)) for k in set(here) | set(there) if there.get(k) != here.get(k)}
        described = "; ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in sorted(differ.items()))
        raise SystemExit(f"describe: {output} was made by another run ({described}); it is never mixed with this "
                         "one: choose another --output, or remove it to start over")


# ------------------------------------------------------------------------------------------ the job
def output_row(row: dict, answer: Answer) -> dict:
    """One output line: the text, where it came from (copied: the catalogue row's uid and its similarity; written:
    stopped and new tokens, and the neighbours the prompt showed), what was replaced and dropped to make it this
    product's, and the facts it states that its sources do not (a copy: its title alone)."""
    item = {"uid": row["uid"], "title": row["title"], "description": answer.text, "source": answer.source,
            "unsupported": answer.unsupported}
    if answer.p is not None:  # the gate's probability that the nearest description is this product's text
        item["p_same_product"] = round(answer.p, 4)
    if answer.source == "copied":
        item.update(copied_uid=answer.copied_uid, similarity=round(answer.similarity, 4), swaps=answer.swaps)
    else:
        item.update(stopped=answer.generation.stopped, new_tokens=answer.generation.new_tokens)
        if answer.neighbours:
            item["neighbours"] = [n["uid"] for n in answer.neighbours]
    if answer.edit.edited:
        item.update(answer.edit.record())
    if answer.title_truncated:  # the text was written for its first prompt.max_title_tokens tokens
        item["title_truncated"] = True
    return item


def describe_chunk(cfg: Config, engine, chunk: list[dict]) -> tuple[list[dict], dict]:
    """One chunk, start to end: copy or write (neighbours found from the whole title, the title cut to
    prompt.max_title_tokens for everything after, the gate, prompts, texts); the output rows and the chunk's
    counters."""
    tick = time.perf_counter()
    answers = engine(chunk)
    items = [output_row(row, answer) for row, answer in zip(chunk, answers)]
    written = [a.generation for a in answers if a.generation is not None]
    counts = {"rows_written": len(items), "new_tokens": sum(g.new_tokens for g in written),
              "stopped": sum(g.stopped for g in written), "unsupported_rows": sum(bool(i["unsupported"]) for i in items),
              "titles_truncated": sum(bool(i.get("title_truncated")) for i in items),
              "copied": sum(a.source == "copied" for a in answers), "swapped_rows": sum(a.swaps > 0 for a in answers),
              "fact_replaced_rows": sum(a.edit.facts_replaced > 0 for a in answers),
              "dropped_rows": sum(bool(a.edit.dropped) for a in answers),
              # texts that end with a whole sentence, and rows left with no text that could be published
              "whole_rows": sum(sentences.ends_whole(a.text) for a in answers),
              "empty_rows": sum(not a.text for a in answers),
              "generate_s": time.perf_counter() - tick}
    return items, counts


class Appender:
    """Process 0's end of the output: finished chunks appended and flushed to OUT, then recorded, with the running
    counters, in OUT.progress.json; a chunk the last run had half-written is cut off first."""

    def __init__(self, output: Path, state: dict, ident: dict):
        self.output, self.state, self.ident = output, dict(state), ident
        with open(output, "r+b" if output.exists() else "wb") as fh:
            fh.truncate(state["bytes"])
        self.handle = open(output, "ab")

    def append(self, items: list[dict], counts: dict) -> None:
        self.handle.write(b"".join(orjson.dumps(item) + b"\n" for item in items))
        self.handle.flush()
        os.fsync(self.handle.fileno())  # on disk before the state says so: a crash never leaves a gap
        for key, value in counts.items():
            self.state[key] = self.state.get(key, 0) + value  # a counter newer than the run resumed starts at 0
        self.state.update(identity=self.ident, chunks=self.state["chunks"] + 1, bytes=self.handle.tell())
        atomic_write_json(progress_path(self.output), self.state)

    def close(self) -> None:
        self.handle.close()


def rounds(numbered_chunks, first: int, size: int):
    """The chunks from number `first` on, in groups of `size` (one chunk per process; the last group may be short):
    chunks before `first` were written by the run this one resumes, and are read past, not tokenized again."""
    group = []
    for number, chunk in numbered_chunks:
        if number < first:
            continue
        group.append((number, chunk))
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def run(cfg: Config, args: argparse.Namespace, stdin=None) -> dict:
    """Describe every eligible row of args.input into args.output (resuming a matching unfinished run). Processes
    take whole chunks in turn (chunk n to process n % N): each looks up neighbours and builds prompts for its own
    rows only, and process 0 appends the chunks in input order."""
    distributed.init()
    rank, size = distributed.world()
    started = time.perf_counter()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    ident = identity(cfg, args)
    state = resume_point(output, ident)
    distributed.barrier()  # every rank has read the state before rank 0 cuts the file back to it
    engine = ENGINES[args.engine](cfg, args.base, args.write_only)
    ident["lora_weights"] = engine.lora_weights  # merged or unmerged: bf16 texts differ, so never mixed in one OUT
    if state["chunks"]:
        refuse_other(output, state["identity"], ident)

    skips = Skips()
    meter = Progress("describe", args.limit, enabled=rank == 0)
    meter.done = state["rows_written"]
    if state["chunks"]:
        print(f"resuming {output} after chunk {state['chunks']} ({state['rows_written']} rows written)", flush=True)
    appender = Appender(output, state, ident) if rank == 0 else None
    try:
        numbered = enumerate(chunks(read_rows(args.input, cfg, skips, args.missing_only, stdin),
                                    cfg.describe.chunk_rows, args.limit))
        for group in rounds(numbered, state["chunks"], size):
            mine = describe_chunk(cfg, engine, group[rank][1]) if rank < len(group) else None
            for items, counts in distributed.gather_objects(mine)[:len(group)]:
                if appender is not None:
                    appender.append(items, counts)
                meter.update(len(items))
        meter.close()
    finally:
        if appender is not None:
            appender.close()
    distributed.barrier()
    final = read_json(progress_path(output)) if output.exists() and progress_path(output).exists() else state
    summary = make_summary(cfg, args, engine, ident, final, skips, time.perf_counter() - started)
    if rank == 0:
        atomic_write_json(summary_path(output), summary)
    return summary


def make_summary(cfg: Config, args: argparse.Namespace, engine, ident: dict, state: dict, skips: Skips,
                 wall_s: float) -> dict:
    """The whole file's figures, from the progress file's counters (resumed chunks included): nothing re-read."""
    written, generate_s = state["rows_written"], state["generate_s"]
    skipped = dict(sorted(skips.counts.items()))
    return {
        "input": ident["input"] if ident["input"] == "-" else ident["input"]["path"], "output": str(args.output),
        "rows_read": skips.records, "rows_written": written, "skipped": skipped,
        "skipped_lines": {k: skips.lines[k] for k in skipped}, "titles_truncated": state["titles_truncated"],
        "copied": state["copied"], "written_by_the_model": written - state["copied"],
        "copies_adapted": state["swapped_rows"],
        # rows whose text had a fact replaced by the title's value / text dropped for stating what its sources do not
        "facts_replaced_rows": state.get("fact_replaced_rows", 0), "dropped_rows": state.get("dropped_rows", 0),
        "stop_rate": state["stopped"] / (written - state["copied"]) if written > state["copied"] else None,
        "unsupported_rate": state["unsupported_rows"] / written if written else None,
        # descriptions that end with a whole sentence (a cut one is shipped up to its last), and rows with none left
        "whole_sentence_rate": state.get("whole_rows", 0) / written if written else None,
        "empty_rows": state.get("empty_rows", 0),
        # each copy's p is in its row (p_same_product); this is the promise every copy was made under
        "promise": getattr(engine, "promise", None),
        "rows_per_s": written / generate_s if generate_s else None,
        "tokens_per_s": state["new_tokens"] / generate_s if generate_s else None, "generate_s": generate_s,
        "wall_s": wall_s, "engine": args.engine, "not_applied": getattr(engine, "not_applied", []),
        "adapter": ident["adapter"], "params_hash": ident["params_hash"], "model": cfg.model.name,
        "retrieval_k": cfg.retrieval.k, "missing_only": bool(args.missing_only), "limit": args.limit,
        "world_size": distributed.world()[1], "compute_dtype": modeling.dtype_name(cfg),
        # how the fine-tune's weights ran: merged (a second copy, the base model's speed) or unmerged (eval.lora_weights)
        "lora_weights": ident.get("lora_weights"),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m descgen.describe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=config.DEFAULT_PROFILE)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--input", required=True, help="trn.json-format JSONL (.gz too), a CSV with a title column, or -")
    parser.add_argument("--output", required=True, help="OUT.jsonl (OUT.summary.json and OUT.jsonl.progress.json beside it)")
    parser.add_argument("--missing-only", action="store_true", help="only rows whose content is empty after cleaning")
    parser.add_argument("--limit", type=int, default=None, help="describe at most N rows")
    parser.add_argument("--base", action="store_true", help="the base model, without the adapter (writes every row)")
    parser.add_argument("--write-only", action="store_true",
                        help="the fine-tune's text on every row (default: copy a sibling's description where the "
                             "gate expects that to score better)")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="hf")
    parser.add_argument("--num-processes", type=int, default=1, help="processes (one per GPU), by accelerate launch")
    return parser.parse_args(argv)


@stages.command("describe")
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        cfg = config.load(args.profile, args.overrides)
    except ConfigError as exc:
        print(f"describe: params error: {exc}", file=sys.stderr)
        return 2
    if args.num_processes > 1 and not distributed.launched():
        if args.input == "-":
            print("describe: --num-processes needs a file --input (stdin cannot be read by several processes)",
                  file=sys.stderr)
            return 2
        local_models.ensure_for(cfg)
        distributed.launch("descgen.describe", _without_num_processes(argv), args.num_processes)
        return 0
    local_models.ensure_for(cfg)
    try:
        summary = run(cfg, args)
    except ConfigError as exc:
        print(f"describe: {exc}", file=sys.stderr)
        return 2
    if distributed.is_main():
        print(json.dumps({k: summary[k] for k in ("rows_written", "copied", "written_by_the_model", "skipped",
                                                  "titles_truncated", "stop_rate", "unsupported_rate", "rows_per_s")}))
    return 0


def _without_num_processes(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--num-processes":
            skip = True
            continue
        if item.startswith("--num-processes="):
            continue
        out.append(item)
    return out


if __name__ == "__main__":
    sys.exit(main())
