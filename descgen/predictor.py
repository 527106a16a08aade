"""One path from a product title to a text: every description the project shows comes from here.

A `Predictor` is built once from the config and holds what a text depends on: the model and tokenizer (the adapter
from `paths.adapter_dir` when asked for), the stop ids, the decoding settings (`eval`), the prompt builder and the
neighbour lookup (`retrieval.k` nearest catalogue rows, fitted to the prompt). It offers

    predictor.prompted(rows)                 rows with their neighbours, as every prompt shows them
    predictor.generate(prompted, base=...)   texts, with stopped / new-token counts
    predictor.reference_nll(prompted, base=...)

and nothing else in the package loads a model for generation: baseline, compare (every system and the gate's
validation run), describe's HF engine, the demo, the web app and `python -m descgen.predictor` all go through it,
so one title gets one text wherever it is shown (tests/test_predictor.py holds them to that).

The base model is exact, and the fine-tune runs at the base model's speed. The adapter is never merged into the
weights the base model's texts come from: merging and unmerging in bf16 does not give W back (W + BA - BA != W: on the
smoke model 31 k of 140 k weights changed, and 3 of 40 greedy texts), so a "base" text after a merged fine-tune is
not the base model's. With `eval.lora_weights` resolving to merged (modeling.lora_weights: the small models always,
Phi-4-mini where two copies fit the device) the fine-tune is a **second copy** of the base weights with the adapter
merged in, as fast as the base model (cpu profile: 1.02× the base model's rows/s, unmerged 0.69×; docs/benchmarks.md.
Both fine-tunes' weights are frozen, so their heads read a contiguous input: modeling.contiguous_head_input); the
base model keeps its own untouched copy. Unmerged (a 16 GB card, 4-bit QLoRA), the adapter sits on top of the one
copy and the base model's texts come from PEFT's forward with the adapter disabled, which is the base layers' own
forward. Every caller gets the same path from the same config on the same machine (`Predictor.lora_weights` says
which ran), so a title still gets one text.

    python -m descgen.predictor "Girls Ballet Tutu Neon Pink"            # fine-tuned (modelo_finetuned/)
    python -m descgen.predictor --base --profile smoke "French Press"     # the base model
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import torch

from . import distributed, facts, modeling, retrieval, stages
from . import gate as gate_module
from .config import Config
from .copyedit import Edited, copy_for, written_for
from .generate import Generation, decode_new_tokens, decoding_kwargs, length_batches
from .losses import PadCollator, nll_from_hidden
from .progress import Progress
from .prompts import Examples, cut_titles, encode_examples, prompt_text, training_examples


@dataclass
class Answer:
    """One row's text from the shipped system, and where it came from."""

    text: str
    source: str                    # "copied" (a catalogue row's description, made this product's) or "written"
    copied_uid: str | None         # the catalogue row copied
    similarity: float | None       # of the nearest catalogue row (None: no row shares a word with the title)
    p: float | None                # the gate's probability that the nearest description is this product's text
    generation: Generation | None  # written rows: stopped, new tokens, the model's own text
    neighbours: list[dict]         # written rows: the neighbours shown in the prompt; copied: the row copied
    edit: Edited                   # what was swapped, replaced and dropped to make `text` (copyedit)
    title: str = ""                # the title the text is for (what its facts are judged against), as the prompt shows it
    title_truncated: bool = False  # that title was cut to prompt.max_title_tokens
    promise: str | None = None     # the gate's promise in force (Gate.promise), where a gate decided

    @property
    def swaps(self) -> int:
        return self.edit.swaps

    @property
    def sources(self) -> list[str]:
        """What may state this text's facts: its title (a copy also its family's facts: `own`; a written text no
        neighbour's: copyedit.written_for)."""
        return [self.title]

    @property
    def own(self) -> list[str] | None:
        """A copy's: the copied row's own title, whose facts alone are that product's (facts.unsupported_facts)."""
        return [self.neighbours[0]["title"]] if self.source == "copied" else None

    @property
    def unsupported(self) -> list[str]:
        """The facts of the text its sources do not state (none once shipped: the edits cleared them)."""
        return facts.unsupported(self.text, self.sources, self.own)

    @property
    def source_line(self) -> str:
        """Where the text came from, in words: 'copied from B0…: 94 % likely the same product's text (similarity
        0.91; 1 replaced; the gate copies only where …)' or 'written by the fine-tune …'."""
        edits = [f"{len(self.edit.replaced)} replaced"] * bool(self.edit.replaced) + \
            [f"{len(self.edit.dropped)} dropped"] * bool(self.edit.dropped)
        edited = f"; {', '.join(edits)}" if edits else ""
        promise = f"; the gate {self.promise}" if self.promise else ""
        if self.source == "copied":
            return (f"copied from {self.copied_uid}: {self.p:.0%} likely the same product's text (similarity "
                    f"{self.similarity:.2f}{edited}{promise})")
        if self.p is None:
            return f"written by the fine-tune (no catalogue row shares a word with the title{edited})"
        return (f"written by the fine-tune: the nearest description is {self.p:.0%} likely this product's text "
                f"({edited.lstrip('; ')}{'; ' if edited else ''}the gate {self.promise})" if self.promise else
                f"written by the fine-tune: the nearest description is {self.p:.0%} likely this product's text"
                f"{edited}")


class Prompter:
    """Rows -> prompts: the neighbour lookup and the prompt builder of one config and tokenizer, without a model.
    The predictor has one; describe's vLLM engine and training build theirs, so every prompt comes from here."""

    def __init__(self, cfg: Config, tokenizer):
        self.cfg = cfg
        self.tokenizer = tokenizer
        self._neighbour_source: retrieval.NeighbourSource | None = None

    @property
    def neighbour_source(self) -> "retrieval.NeighbourSource":
        """prepare's index and catalogue, loaded on first use and kept (the demo and the web app ask per title)."""
        if self._neighbour_source is None:
            self._neighbour_source = retrieval.NeighbourSource.load(self.cfg)
        return self._neighbour_source

    def cut(self, rows: list[dict]) -> list[dict]:
        """The rows with every title over prompt.max_title_tokens cut to them (`prompts.cut_titles`, flagged
        `title_truncated`): what a prompt shows of a title, wherever one is made."""
        return cut_titles(self.tokenizer, rows, self.cfg.prompt.max_title_tokens)

    def prompted(self, rows: list[dict], split: str | None = None, for_training: bool = False) -> list[dict]:
        """`rows` with their titles cut (`cut`) and their neighbours as every prompt shows them: the retrieval.k
        nearest catalogue rows (found from the whole title) at least retrieval.min_similarity similar, cut to leave the
        answer its room (the row's own description in training, eval.max_new_tokens otherwise). `split` names the
        prepare split the rows are. k = 0: no neighbours, the plain prompt."""
        if not self.cfg.retrieval.k:
            return self.cut(rows)
        found = self.neighbour_source.nearest(rows, self.cfg.retrieval.k, split)
        return retrieval.fit(self.cfg, self.tokenizer, self.cut(rows), found, for_training)

    def prompts(self, prompted: list[dict]) -> list[str]:
        """The text each row is continued from: what HF generate and vLLM (describe --engine vllm) both get."""
        return [prompt_text(self.tokenizer, self.cfg.prompt, row) for row in prompted]

    def examples(self, rows: list[dict], split: str | None = None) -> Examples:
        """Training examples of `rows` (titles cut, prompts as `prompted(..., for_training=True)` builds them): the rows
        kept with their neighbours, their examples and untruncated token lengths, and the rows skipped
        (prompts.training_examples)."""
        cfg = self.cfg
        near = None
        if cfg.retrieval.k:
            found = self.neighbour_source.nearest(rows, cfg.retrieval.k, split)
            near = [[n for n in row_near if n["similarity"] >= cfg.retrieval.min_similarity] for row_near in found]
        rows = self.cut(rows)
        made = training_examples(self.tokenizer, cfg.prompt, rows, near, cfg.train.max_seq_len,
                                 cfg.retrieval.description_tokens)
        made.titles_cut = sum(bool(row.get("title_truncated")) for row in rows)
        return made


class Predictor:
    """The model (+ the fine-tune), tokenizer, stop ids, decoding settings and prompter of one config, loaded once and
    reused for every call. `model` gives the base model's texts (with the adapter disabled where the fine-tune sits
    on it unmerged); `tuned` the fine-tune's: a merged copy, or that same PEFT model."""

    def __init__(self, cfg: Config, model, tokenizer, adapter: bool, tuned=None, lora_weights: str | None = None):
        self.cfg = cfg
        self.model = model
        self.tuned = tuned if tuned is not None else (model if adapter else None)
        self.tokenizer = tokenizer
        self.adapter = adapter
        # "merged" | "unmerged": how the fine-tune ran (a PEFT model handed in is the adapter on top)
        self.lora_weights = (lora_weights or "unmerged") if adapter else None
        for generating in (model, self.tuned):  # the same PEFT model twice when unmerged: the hook goes on once
            if generating is not None:
                modeling.contiguous_head_input(generating)
        self.stop_ids = modeling.stop_token_ids(model, tokenizer)
        self.dtype = modeling.dtype_name(cfg)
        self.prompter = Prompter(cfg, tokenizer)
        self._gate: gate_module.Gate | None = None

    @classmethod
    def load(cls, cfg: Config, adapter: bool = True) -> "Predictor":
        """The base model in compute_dtype (4-bit when model.quantization says so), with the trained adapter on top
        when `adapter`; eval mode; the tokenizer pads on the left (generation continues every row's last token)."""
        if adapter:
            stages.require(cfg, "adapter_config")  # before loading gigabytes of base weights
        if cfg.retrieval.k:
            retrieval.check_ready(cfg)  # the neighbours come from prepare's index: say so before a model loads
        tokenizer = modeling.load_tokenizer(cfg, padding_side="left")
        model = modeling.load_model(cfg)
        model.eval()
        if not adapter:
            return cls(cfg, model, tokenizer, False)
        from peft import PeftModel

        path = modeling.lora_weights(cfg, model)
        if path == "merged":  # the adapter added into a copy; `model` stays the base model, untouched
            import copy

            tuned = PeftModel.from_pretrained(copy.deepcopy(model), str(cfg.adapter_dir)).merge_and_unload()
            return cls(cfg, model, tokenizer, True, tuned.eval(), path)
        model = PeftModel.from_pretrained(model, str(cfg.adapter_dir)).eval()
        return cls(cfg, model, tokenizer, True, model, path)

    @property
    def neighbour_source(self) -> "retrieval.NeighbourSource":
        return self.prompter.neighbour_source

    def prompted(self, rows: list[dict], split: str | None = None) -> list[dict]:
        """`Prompter.prompted` for generation."""
        return self.prompter.prompted(rows, split)

    def prompts(self, prompted: list[dict]) -> list[str]:
        return self.prompter.prompts(prompted)

    # ------------------------------------------------------------------------------------------ the shipped system
    @property
    def gate(self) -> "gate_module.Gate":
        """The copy-or-write gate fitted for this adapter (gate.json beside it, written by compare)."""
        if self._gate is None:
            self._gate = gate_module.read(stages.require(self.cfg, "gate"))
        return self._gate

    @gate.setter
    def gate(self, value: "gate_module.Gate") -> None:
        self._gate = value

    def fit_gate(self, validation: list[dict]) -> "gate_module.Gate":
        """Fit the copy-or-write gate for this fine-tune and use it from now on (compare writes it as gate.json): its
        probability model from catalogue rows (free labels: a copy's ROUGE-L needs no generation), its write side
        from this fine-tune's texts for the validation rows as shipped (never the test rows)."""
        prompted = self.prompted(validation, split="validation")
        generated = self.generate(prompted, progress="generating validation (the gate's write side)")
        written = [written_answer(row, g, None, None).text for row, g in zip(prompted, generated)]
        self._gate = gate_module.fit(self.cfg, self.neighbour_source, validation, written)
        return self._gate

    def answer(self, rows: list[dict], split: str | None = None, write_only: bool = False, progress: bool | str = False,
               spread: bool = True) -> list["Answer"]:
        """The system users get, for each row: the nearest catalogue row's description, adapted to this row's
        variant, where the gate expects a copy to score more than writing; else the fine-tune's text (the rows it
        writes generated together, as `generate` batches them). `write_only`: the fine-tune alone, every row."""
        generate = lambda prompted: self.generate(prompted, progress=progress, spread=spread)  # noqa: E731
        return answer_rows(self.prompter, None if write_only else self.gate, rows, split, generate)

    # ------------------------------------------------------------------------------------------ texts
    def generate(self, prompted: list[dict], base: bool = False, batch_size: int | None = None,
                 progress: bool | str = False, spread: bool = True, **override) -> list[Generation]:
        """A description for each of `prompted` (from `prompted()`), in order: greedy batches, longest prompts first,
        stopped on any stop id. `base=True` turns the adapter off for the call. `override`: the demo's decoding
        controls (do_sample, temperature, max_new_tokens); None keeps params. With several processes
        (eval.num_processes) and `spread`, each generates its share of the batches, each exactly as one process would
        (same rows, same padding), and all get the whole list back; `spread=False` when each process brings rows of
        its own (describe)."""
        if base is False and not self.adapter:
            raise ValueError("this predictor holds the base model only: Predictor.load(cfg, adapter=True) for the "
                             "fine-tune")
        texts = self.prompts(prompted)
        batches = length_batches(self.tokenizer, texts, batch_size or self.cfg.eval.batch_size)
        mine = distributed.shard_batches(len(batches)) if spread else range(len(batches))
        rank, size = distributed.world() if spread else (0, 1)
        label = progress if isinstance(progress, str) else "generating"
        meter = Progress(label if size == 1 else f"{label}, process {rank + 1}/{size}",
                         sum(len(batches[b]) for b in mine), enabled=bool(progress) and rank == 0)
        results: list[Generation | None] = [None] * len(texts)
        stop = torch.tensor(self.stop_ids)
        model, context = self._as(base)
        with context, torch.inference_mode():
            for b in mine:
                chunk = batches[b]
                enc = self.tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                                     add_special_tokens=False).to(model.device)
                kwargs = decoding_kwargs(self.cfg.eval, self.stop_ids, self.tokenizer.pad_token_id,
                                         prompt_ids=enc["input_ids"], **override)
                new = model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1]:].cpu()
                for row, index in enumerate(chunk):
                    results[index] = decode_new_tokens(self.tokenizer, new[row], stop)
                meter.update(len(chunk))
        meter.close()
        return distributed.gather_in_order(results) if spread else results

    @torch.inference_mode()
    def reference_nll(self, prompted: list[dict], base: bool = False) -> list[float]:
        """Mean NLL per description token of each row's reference (`content`, end tokens included) given its
        prompt: the perplexity compare reports. Batches of eval.batch_size, longest first (a batch pads to its
        longest row); one row at a time through the head, so logits stay [one description × vocab]."""
        cfg = self.cfg
        examples = encode_examples(self.tokenizer, cfg.prompt, prompted, cfg.train.max_seq_len)
        collate = PadCollator(self.tokenizer.pad_token_id)
        model, context = self._as(base)
        causal_lm = modeling.unwrap_causal_lm(model)
        lm_head = causal_lm.get_output_embeddings()
        nll: list[float | None] = [None] * len(examples)
        size = cfg.eval.batch_size
        order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
        with context:
            for b in distributed.shard_batches((len(examples) + size - 1) // size):
                chunk = order[b * size:(b + 1) * size]
                batch = collate([{"input_ids": examples[i].input_ids, "labels": examples[i].labels} for i in chunk])
                batch = {k: v.to(model.device) for k, v in batch.items()}
                hidden = causal_lm.get_decoder()(input_ids=batch["input_ids"],
                                                 attention_mask=batch["attention_mask"]).last_hidden_state
                for row, index in enumerate(chunk):
                    total, count = nll_from_hidden(hidden[row:row + 1], batch["labels"][row:row + 1], lm_head,
                                                   cfg.train.loss_chunk_tokens)
                    nll[index] = float(total) / max(count, 1)
        return distributed.gather_in_order(nll)

    def _as(self, base: bool):
        """(the model, the context to run it in): the base model on its own untouched weights — a plain model, or the
        PEFT model with its adapter disabled (the base layers' own forward) — or the fine-tune."""
        import contextlib

        if not base:
            if self.tuned is None:
                raise ValueError("this predictor holds the base model only: Predictor.load(cfg, adapter=True) for the "
                                 "fine-tune")
            return self.tuned, contextlib.nullcontext()
        if self.adapter and self.tuned is self.model:
            return self.model, self.model.disable_adapter()
        return self.model, contextlib.nullcontext()


def answer_rows(prompter: Prompter, gate, rows: list[dict], split: str | None, generate) -> list[Answer]:
    """Copy or write, row by row (`Predictor.answer`; describe's vLLM engine brings its own `generate`, a function
    of prompted rows). `gate` None: the model's own text on every row (compare's `finetuned` and `baseline_rag`).
    With a gate, the shipped system: a copy is the nearest description made this product's (`copyedit.copy_for`),
    a written text the model's with any fact its title and neighbours do not state replaced or dropped
    (`copyedit.written_for`); a copy that dropping leaves empty is written instead."""
    cfg = prompter.cfg
    if gate is None:
        prompted = prompter.prompted(rows, split)
        return [Answer(g.text, "written", None, None, None, g, row.get("neighbours") or [], Edited(g.text), row["title"],
                       bool(row.get("title_truncated"))) for g, row in zip(generate(prompted), prompted)]
    source = prompter.neighbour_source
    near = source.nearest(rows, cfg.retrieval.candidates, split)  # found from the whole title, as prepare finds them
    rows = prompter.cut(rows)
    shipped = gate_module.copies(rows, near)
    copied: dict[int, dict] = {}
    with_neighbours = [i for i, n in enumerate(near) if n]
    if with_neighbours:
        x = np.stack([gate_module.features(rows[i], near[i], source.description_rows, shipped[i])
                      for i in with_neighbours])
        copied = {i: d for i, d in zip(with_neighbours, gate.decide(x))}
    promise = gate.promise()
    written = [i for i in range(len(rows)) if not (copied.get(i, {}).get("copy") and shipped[i].text)]
    # the neighbours the prompt shows are the first retrieval.k of these (one order, whatever the count asked)
    prompted = (retrieval.fit(cfg, prompter.tokenizer, [rows[i] for i in written],
                              [near[i][:cfg.retrieval.k] for i in written])
                if cfg.retrieval.k else [rows[i] for i in written])
    texts = dict(zip(written, zip(generate(prompted) if written else [], prompted)))
    answers = []
    for i, row in enumerate(rows):
        p = copied.get(i, {}).get("p")
        first = near[i][0] if near[i] else None
        if i in texts:
            generation, prompt_row = texts[i]
            answers.append(written_answer(prompt_row, generation, first and first["similarity"], p, promise))
        else:
            answers.append(Answer(shipped[i].text, "copied", first["uid"], first["similarity"], p, None, [first],
                                  shipped[i], row["title"], bool(row.get("title_truncated")), promise))
    return answers


def written_answer(prompt_row: dict, generation: Generation, similarity: float | None, p: float | None,
                   promise: str | None = None) -> Answer:
    """The model's text for a prompted row as shipped: every fact its title does not state dropped (the neighbours
    shown included), and cut back to its last whole sentence."""
    neighbours = prompt_row.get("neighbours") or []
    edit = written_for(generation.text, prompt_row["title"])
    return Answer(edit.text, "written", None, similarity, p, generation, neighbours, edit, prompt_row["title"],
                  bool(prompt_row.get("title_truncated")), promise)


# ------------------------------------------------------------------------------------------ command line
def main(argv: list[str] | None = None) -> int:
    from . import config, local_models

    parser = argparse.ArgumentParser(prog="python -m descgen.predictor",
                                     description="Write a product description for each title, as describe would.")
    parser.add_argument("titles", nargs="+")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--base", action="store_true", help="the base model, without the adapter")
    parser.add_argument("--write-only", action="store_true", help="the fine-tune's text (default: describe's answer, "
                        "a sibling's description copied where the gate expects that to score better)")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None, help="sample at this temperature (default: greedy)")
    args = parser.parse_args(argv)
    cfg = config.load(args.profile, args.overrides)
    local_models.ensure_for(cfg)
    try:
        predictor = Predictor.load(cfg, adapter=not args.base)
    except stages.MissingArtifact as exc:
        raise SystemExit(f"predictor: {exc}" + ("; or --set retrieval.k=0 to write without neighbours"
                                                if cfg.retrieval.k else "")) from None
    override = {"max_new_tokens": args.max_new_tokens}
    if args.temperature is not None:
        override.update(do_sample=True, temperature=args.temperature)
    rows = [{"title": t} for t in args.titles]
    if args.base or args.write_only or any(v is not None for v in override.values()):
        texts = [g.text for g in predictor.generate(predictor.prompted(rows), base=args.base, **override)]
        sources = ["base model" if args.base else "written by the fine-tune"] * len(rows)
    else:
        answers = predictor.answer(rows)
        texts = [a.text for a in answers]
        sources = [a.source_line for a in answers]
    for title, text, source in zip(args.titles, texts, sources):
        print(f"# {title}  [{source}]\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
