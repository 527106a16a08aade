"""Describe a catalogue: a description for every product of a file, as a resumable batch job.

    python -m descgen.describe --profile P --input dataset/trn.json --missing-only --output described.jsonl
    python -m descgen.describe --input titles.csv --output out.jsonl --limit 1000 --base
    printf 'French Press 34 oz\\nGirls Ballet Tutu\\n' | python -m descgen.describe --input - --output out.jsonl

Input: trn.json's format (JSON Lines, plain or .gz, read a block at a time with prepare's malformed-line
accounting), a JSONL or CSV with a `title` column (`uid`, `content` optional), or `-`: one title a line on stdin.
`--missing-only` keeps the rows whose content is empty after cleaning: the catalogue's gap (a third of trn.json).

Each row gets the prompt, neighbours (retrieval.k from the training index, never the row itself), decoding and stop
tokens 04_compare uses, so for a test row `describe` writes compare's prediction. Output, in input order, one JSON
line a row: uid, title, description, stopped, new_tokens, unsupported (numbers / units / sizes the title and
neighbours do not state: descgen/facts.py), neighbours (their uids). Beside it OUT.summary.json: rows read,
written, skipped by cause with line numbers, rows/s, tokens/s, the adapter and the params hash.

Resumable, nothing lost: rows are read in chunks of describe.chunk_rows; a finished chunk is appended to OUT and
flushed to disk, then OUT.progress.json records it. After a crash (or kill -9) a rerun cuts OUT back to the last
recorded chunk and continues: the final file equals an uninterrupted run's. An OUT made by another adapter,
params, input or flags is refused, never mixed.

Scale: `--num-processes N` (accelerate launch, one process per GPU) splits each chunk's batches over N processes
and rank 0 writes them in order; `--engine vllm` sends the same prompts through vLLM (`pip install -e .[vllm]`).
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

from . import config, distributed, modeling, retrieval, stages
from .clean import clean_text
from .config import Config, ConfigError
from .facts import row_sources, unsupported
from .generate import Generation, decoding_kwargs, generate, prompt_texts
from .io import atomic_write_json, hash_into, read_json
from .progress import Progress
from .scan import EXAMPLES_PER_REASON, _lines, _open_blocks, json_failure_reason

# what the output depends on: a change to any of these makes another file, so an old OUT is refused
DESCRIBE_PARAMS = ("model", "prompt", "eval", "retrieval", "train.max_seq_len", "describe", "data.decode_html",
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


def _json_records(path: Path, block_bytes: int) -> Iterator[tuple[int, object]]:
    """(line number, parsed object or the failure cause as a str) for each line of a JSON Lines file (.gz too)."""
    line = 0
    for block in _open_blocks(path, 0, None, block_bytes):
        for raw in _lines(block):
            line += 1
            try:
                yield line, orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield line, json_failure_reason(raw)


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
        records = _csv_records(path) if name.endswith(".csv") else _json_records(path, cfg.data.read_block_bytes)
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


def cut_title(tokenizer, row: dict, max_tokens: int) -> dict:
    """A title over describe.max_title_tokens, cut to it at a token boundary and flagged."""
    ids = tokenizer(row["title"], add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return row
    return dict(row, title=tokenizer.decode(ids[:max_tokens]).strip(), title_truncated=True)


# ------------------------------------------------------------------------------------------ engines
class HFEngine:
    """transformers' generate, batched as 04_compare does (one prompt function, the same stop tokens)."""

    name = "hf"

    def __init__(self, cfg: Config, base: bool):
        self.cfg = cfg
        self.model, self.tokenizer = modeling.load_for_inference(cfg, adapter=not base)
        self.stop_ids = modeling.stop_token_ids(self.model, self.tokenizer)
        if not base and cfg.model.quantization == "none":
            # fold the adapter into the weights once, as 04_compare does for its run: no extra matmuls per token
            self.model = self.model.merge_and_unload()

    def __call__(self, rows: list[dict], texts: list[str]) -> list[Generation]:
        return generate(self.model, self.tokenizer, self.cfg.prompt, rows, self.cfg.eval, self.stop_ids,
                        batch_size=self.cfg.describe.batch_size, texts=texts)


class VLLMEngine:
    """vLLM's offline `LLM.generate` with the adapter as a LoRARequest: the same prompts and stop tokens. vLLM has no
    `no_repeat_ngram_size`; eval.repetition_penalty is passed, and the summary says what was not applied."""

    name = "vllm"

    def __init__(self, cfg: Config, base: bool):
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError as exc:
            raise SystemExit("describe --engine vllm needs vLLM, an optional extra for CUDA machines: "
                             f"pip install -e .[vllm]  ({exc})") from exc
        self.tokenizer = modeling.load_tokenizer(cfg, padding_side="left")
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
        self.lora = None if base else LoRARequest("descgen", 1, str(stages.require(cfg, "adapter_config").parent))
        self.llm = LLM(model=cfg.model_path, revision=cfg.model.revision, dtype=str(modeling.compute_dtype(cfg))
                       .replace("torch.", ""), enable_lora=not base, max_lora_rank=max(cfg.lora.r, 8),
                       max_model_len=cfg.train.max_seq_len + cfg.eval.max_new_tokens, seed=cfg.eval.seed)

    def __call__(self, rows: list[dict], texts: list[str]) -> list[Generation]:
        outputs = self.llm.generate(texts, self.sampling, lora_request=self.lora, use_tqdm=False)
        results = []
        for out in outputs:
            first = out.outputs[0]
            stopped = first.finish_reason == "stop"
            ids = list(first.token_ids)
            end = next((i for i, t in enumerate(ids) if t in self.stop_ids), len(ids))
            results.append(Generation(text=first.text.strip(), stopped=stopped, new_tokens=end))
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


def params_hash(cfg: Config) -> str:
    """DESCRIBE_PARAMS' hash, with the model named by its resolved path: `models/tiny-phi3` from the repo root and
    its absolute path are one model."""
    import hashlib

    picked = {"params": cfg.section_hash(*(p for p in DESCRIBE_PARAMS if p != "model")),
              "model": dict(cfg.raw["model"], name=cfg.model_path)}
    return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()[:16]


def identity(cfg: Config, args: argparse.Namespace) -> dict:
    ident = {"adapter": adapter_digest(cfg, args.base), "params_hash": params_hash(cfg),
             "input": str(args.input) if args.input == "-" else str(Path(args.input).resolve()),
             "missing_only": bool(args.missing_only), "engine": args.engine}
    if cfg.retrieval.k:
        ident["train_split"] = retrieval.rows_digest(stages.read_split(cfg, "train"))
    return ident


def progress_path(output: Path) -> Path:
    return output.with_name(output.name + ".progress.json")


def summary_path(output: Path) -> Path:
    stem = output.name[:-len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(stem + ".summary.json")


def resume_point(output: Path, ident: dict) -> dict:
    """{chunks, bytes, ...} of the run to continue (zeros for a new one). Refuses an OUT from another run."""
    state_file = progress_path(output)
    if not output.exists():
        state_file.unlink(missing_ok=True)
        return {"chunks": 0, "bytes": 0, "rows_written": 0, "new_tokens": 0, "generate_s": 0.0}
    if not state_file.exists():
        raise SystemExit(f"describe: {output} exists but has no {state_file.name}: it was not written by describe "
                         "(or by an older one); choose another --output or remove it")
    state = read_json(state_file)
    if state["identity"] != ident:
        differ = {k: (state["identity"].get(k), ident.get(k)) for k in set(ident) | set(state["identity"])
                  if state["identity"].get(k) != ident.get(k)}
        described = "; ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in sorted(differ.items()))
        raise SystemExit(f"describe: {output} was made by another run ({described}); it is never mixed with this "
                         "one: choose another --output, or remove it to start over")
    return state


# ------------------------------------------------------------------------------------------ the job
def output_row(row: dict, result: Generation) -> dict:
    item = {"uid": row["uid"], "title": row["title"], "description": result.text, "stopped": result.stopped,
            "new_tokens": result.new_tokens, "unsupported": unsupported(result.text, row_sources(row))}
    if row.get("neighbours"):
        item["neighbours"] = [n["uid"] for n in row["neighbours"]]
    if row.get("title_truncated"):
        item["title_truncated"] = True
    return item


def run(cfg: Config, args: argparse.Namespace, stdin=None) -> dict:
    """Describe every eligible row of args.input into args.output (resuming a matching unfinished run)."""
    distributed.init()
    main_process = distributed.is_main()
    started = time.perf_counter()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    ident = identity(cfg, args)
    state = resume_point(output, ident)
    distributed.barrier()  # every rank has read the state before rank 0 cuts the file back to it

    engine = ENGINES[args.engine](cfg, args.base)
    tokenizer = engine.tokenizer
    train_rows = stages.read_split(cfg, "train") if cfg.retrieval.k else []
    index = retrieval.load(cfg, train_rows) if cfg.retrieval.k else None

    skips = Skips()
    truncated = stopped = unsupported_rows = 0
    rows_written, new_tokens, generate_s = state["rows_written"], state["new_tokens"], state["generate_s"]
    total = args.limit
    meter = Progress("describe", total, enabled=main_process)
    if state["chunks"]:
        meter.done = state["rows_written"]
        print(f"resuming {output} after chunk {state['chunks']} ({state['rows_written']} rows written)", flush=True)
    handle = None
    if main_process:
        with open(output, "r+b" if output.exists() else "wb") as fh:
            fh.truncate(state["bytes"])  # a chunk half-written when the last run died is dropped, and redone
        handle = open(output, "ab")
    try:
        for number, chunk in enumerate(chunks(read_rows(args.input, cfg, skips, args.missing_only, stdin),
                                              cfg.describe.chunk_rows, args.limit)):
            if number < state["chunks"]:
                continue  # written by the run this one resumes: read past, not tokenized again
            chunk = [cut_title(tokenizer, row, cfg.describe.max_title_tokens) for row in chunk]
            tick = time.perf_counter()
            prompted = retrieval.attach(cfg, tokenizer, chunk, train_rows, index) if index is not None else chunk
            results = engine(prompted, prompt_texts(tokenizer, cfg.prompt, prompted))
            generate_s += time.perf_counter() - tick
            items = [output_row(row, result) for row, result in zip(prompted, results)]
            rows_written += len(items)
            new_tokens += sum(r.new_tokens for r in results)
            if main_process:
                handle.write(b"".join(orjson.dumps(item) + b"\n" for item in items))
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the state says so: a crash never leaves a gap
                atomic_write_json(progress_path(output), {
                    "identity": ident, "chunks": number + 1, "bytes": handle.tell(), "rows_written": rows_written,
                    "new_tokens": new_tokens, "generate_s": generate_s})
            meter.update(len(items))
        meter.close()
    finally:
        if handle is not None:
            handle.close()
    distributed.barrier()

    # the stop, unsupported and truncated counts cover the whole file, resumed chunks included
    if main_process:
        for line in output.read_bytes().splitlines():
            item = orjson.loads(line)
            stopped += item["stopped"]
            unsupported_rows += bool(item["unsupported"])
            truncated += bool(item.get("title_truncated"))
    skipped = dict(sorted(skips.counts.items()))
    summary = {
        "input": ident["input"], "output": str(output), "rows_read": skips.records, "rows_written": rows_written,
        "skipped": skipped,
        "skipped_lines": {k: skips.lines[k] for k in skipped}, "titles_truncated": truncated,
        "stop_rate": stopped / rows_written if rows_written else None,
        "unsupported_rate": unsupported_rows / rows_written if rows_written else None,
        "rows_per_s": rows_written / generate_s if generate_s else None,
        "tokens_per_s": new_tokens / generate_s if generate_s else None, "generate_s": generate_s,
        "wall_s": time.perf_counter() - started, "engine": args.engine,
        "not_applied": getattr(engine, "not_applied", []), "adapter": ident["adapter"],
        "params_hash": ident["params_hash"], "model": cfg.model.name, "retrieval_k": cfg.retrieval.k,
        "missing_only": bool(args.missing_only), "limit": args.limit, "world_size": distributed.world()[1],
        "compute_dtype": str(modeling.compute_dtype(cfg)).replace("torch.", ""),
    }
    if main_process:
        atomic_write_json(summary_path(output), summary)
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m descgen.describe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=config.DEFAULT_PROFILE)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--input", required=True, help="trn.json-format JSONL (.gz too), a CSV with a title column, or -")
    parser.add_argument("--output", required=True, help="OUT.jsonl (OUT.summary.json and OUT.jsonl.progress.json beside it)")
    parser.add_argument("--missing-only", action="store_true", help="only rows whose content is empty after cleaning")
    parser.add_argument("--limit", type=int, default=None, help="describe at most N rows")
    parser.add_argument("--base", action="store_true", help="the base model, without the adapter")
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
        modeling.ensure_local_model(cfg)
        dtype = str(modeling.compute_dtype(cfg)).replace("torch.", "")  # decided once, for every process
        distributed.launch("descgen.describe", _without_num_processes(argv), args.num_processes,
                           env={modeling.DTYPE_ENV: dtype})
        return 0
    modeling.ensure_local_model(cfg)
    try:
        summary = run(cfg, args)
    except ConfigError as exc:
        print(f"describe: {exc}", file=sys.stderr)
        return 2
    if distributed.is_main():
        print(json.dumps({k: summary[k] for k in ("rows_written", "skipped", "titles_truncated", "stop_rate",
                                                  "unsupported_rate", "rows_per_s")}))
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
