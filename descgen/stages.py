"""The stage table: each stage's notebook, the params its results depend on, the files it reads and the artifacts
it writes, with their paths.

Stage modules take every artifact path from here (`path`, `require`, `read_split`), so a file name is written
once; the runner (`pipeline`) builds its manifests from the same table. Like every shared module, this one imports
no stage: stages stand side by side on the shared modules and never import each other (tests/test_layout.py).

    stage     writes (artifact names)                                           reads
    prepare   train/validation/test_split, prepare_report, lengths              data.path (+ data.test_path)
    baseline  baseline_predictions, baseline_metrics                            test_split, the base model
    train     adapter_weights, adapter_config, training_report (+ log_history)  train/validation_split
    compare   finetuned_predictions, retrieval_predictions, compare_rows, ...   baseline's files, the adapter
    demo      demo_rows                                                         the adapter
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import Config
from .io import atomic_write_json, atomic_write_jsonl, read_jsonl

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Artifact:
    stage: str     # the stage that writes it: named when it is missing
    folder: str    # a Config path property: data_dir | eval_dir | adapter_dir | demo_dir
    file: str

    def path(self, cfg: Config) -> Path:
        return getattr(cfg, self.folder) / self.file


def _artifacts(stage: str, folder: str, **files: str) -> dict[str, Artifact]:
    return {name: Artifact(stage, folder, file) for name, file in files.items()}


ARTIFACTS: dict[str, Artifact] = {
    **_artifacts("prepare", "data_dir", train_split="train.jsonl", validation_split="validation.jsonl",
                 test_split="test.jsonl", prepare_report="prepare_report.json", lengths="lengths.json",
                 catalogue="catalogue.arrow", catalogue_meta="catalogue.json", retrieval_index="retrieval_index.npz",
                 retrieval_terms="retrieval_terms.json", neighbours="neighbours.npz", title_wordcloud="wordcloud_titles.png",
                 content_wordcloud="wordcloud_descriptions.png"),
    **_artifacts("baseline", "eval_dir", baseline_predictions="baseline_predictions.jsonl",
                 baseline_metrics="baseline_metrics.json"),
    **_artifacts("train", "adapter_dir", adapter_weights="adapter_model.safetensors",
                 adapter_config="adapter_config.json", training_report="training_report.json",
                 log_history="log_history.json", params_used="params_used.yaml"),
    **_artifacts("compare", "eval_dir", finetuned_predictions="finetuned_predictions.jsonl",
                 finetuned_metrics="finetuned_metrics.json", retrieval_predictions="retrieval_predictions.jsonl",
                 baseline_rag_predictions="baseline_rag_predictions.jsonl", gated_predictions="gated_predictions.jsonl",
                 baseline_rag_metrics="baseline_rag_metrics.json",
                 compare_rows="compare_rows.jsonl", compare_report="compare.json"),
    **_artifacts("compare", "adapter_dir", gate="gate.json"),
    **_artifacts("demo", "demo_dir", demo_rows="demo.jsonl"),
}


def path(cfg: Config, artifact: str) -> Path:
    return ARTIFACTS[artifact].path(cfg)


class MissingArtifact(FileNotFoundError):
    """An artifact a stage reads is not on disk: the message names the stage that writes it."""


def require(cfg: Config, artifact: str) -> Path:
    """The artifact's path if it exists; else an error naming the stage that writes it."""
    where = path(cfg, artifact)
    if not where.exists():
        stage = ARTIFACTS[artifact].stage
        raise MissingArtifact(f"{where} not found: run the {stage} stage first (./run_all.sh --from {stage}, "
                                f"with the same --profile and --set)")
    return where


def command(name: str):
    """Decorates a stage's `main(argv)`: a missing artifact ends the command with one line naming the stage to run
    (exit status 1), not a traceback from deep inside the stage. In a notebook the exception itself is raised."""
    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except MissingArtifact as exc:
                raise SystemExit(f"{name}: {exc}") from None
        return wrapped
    return decorate


def write(cfg: Config, artifacts: dict) -> None:
    """Write each named artifact atomically at its path: a list of rows as JSON Lines (.jsonl), else one JSON value."""
    for name, value in artifacts.items():
        where = path(cfg, name)
        atomic_write_jsonl(where, value) if where.suffix == ".jsonl" else atomic_write_json(where, value)


def read_split(cfg: Config, split: str) -> list[dict]:
    """prepare's train / validation / test rows: {uid, title, content}."""
    return read_jsonl(require(cfg, f"{split}_split"))


# ------------------------------------------------------------------------------------------ the table
def _data_inputs(cfg: Config) -> list[Path]:
    return [cfg.resolve(p) for p in (cfg.data.path, cfg.data.test_path) if p]


def _model_inputs(cfg: Config) -> list[Path]:
    """A locally built model is an input (its weights are fingerprinted); a hub model is pinned by name+revision."""
    return [Path(cfg.model_path) / "config.json"] if cfg.model.build else []


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: str
    params: tuple[str, ...]                      # config sections / section.key the stage's results depend on
    upstream: tuple[str, ...]                    # stages whose outputs it reads
    inputs: Callable[[Config], list[Path]]       # files outside outputs/ it reads
    writes: tuple[str, ...]                      # artifacts fingerprinted in its manifest
    # the artifacts later stages read, when not all: only these move their keys, so a rerun that writes the same
    # splits (prepare_report.json holds timings that differ on every run) does not retrain anything
    hands_on: tuple[str, ...] | None = None
    # runs the model: its key holds the dtype `model.dtype: auto` resolves to on this machine, so outputs made on a
    # bf16 machine and continued on an fp32 one rerun (greedy text differs between the two)
    uses_model: bool = True
    # keys of `params`' sections its results do not depend on (the baseline never runs the fine-tune's weights)
    leave_out: tuple[str, ...] = ()

    def params_hash(self, cfg: Config) -> str:
        return cfg.section_hash(*self.params, leave_out=self.leave_out)

    def outputs(self, cfg: Config) -> list[Path]:
        return [path(cfg, a) for a in self.writes]

    def handoff(self, cfg: Config) -> list[Path]:
        return [path(cfg, a) for a in (self.hands_on if self.hands_on is not None else self.writes)]

    @property
    def module(self) -> str:
        return self.name  # descgen/<name>.py: run(cfg) is what its notebook calls


SPLITS = ("train_split", "validation_split", "test_split")
# what later stages read of prepare's retrieval files: the neighbours found for the splits and the catalogue's meta
# (its digest covers every row; the index and the catalogue itself are checked against it when loaded)
NEIGHBOURS = ("neighbours", "catalogue_meta")

STAGES: tuple[Stage, ...] = (
    Stage("prepare", "01_prepare.ipynb", ("data", "prompt", "model.name", "model.revision", "retrieval.source",
                                          "retrieval.candidates", "retrieval.max_term_rows"), (), _data_inputs,
          SPLITS + NEIGHBOURS + ("prepare_report", "lengths", "catalogue", "retrieval_index", "retrieval_terms"),
          hands_on=SPLITS + NEIGHBOURS, uses_model=False),
    Stage("baseline", "02_baseline.ipynb", ("model", "prompt", "eval", "train.max_seq_len"), ("prepare",),
          _model_inputs, ("baseline_predictions", "baseline_metrics"), leave_out=("eval.lora_weights",)),
    # no "data": train sees the data only as prepare's splits (the handoff above; their contents also key
    # train.run_dir), so data.workers or data.scanner never retrain a model
    Stage("train", "03_train_lora.ipynb", ("prompt", "model", "lora", "train", "retrieval"), ("prepare",),
          _model_inputs, ("adapter_weights", "adapter_config", "training_report")),
    Stage("compare", "04_compare.ipynb", ("eval", "retrieval", "gate"), ("baseline", "train"), lambda c: [],
          ("finetuned_predictions", "retrieval_predictions", "compare_rows", "compare_report")),
    Stage("demo", "05_demo.ipynb", ("demo", "eval", "retrieval", "gate"), ("train",), lambda c: [], ("demo_rows",)),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
BY_NAME = {s.name: s for s in STAGES}


# ------------------------------------------------------------------------------------------ the code behind a stage
def package_imports(module: str) -> set[str]:
    """The descgen modules `module` imports (anywhere in the file, lazy imports inside functions too)."""
    tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:                 # from .x import y
                found.add(node.module.split(".")[0])
            elif node.level == 1:                               # from . import x, y
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "descgen":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("descgen."))
    return found


@functools.lru_cache(maxsize=None)
def code_modules(module: str) -> tuple[str, ...]:
    """`module` and every descgen module it reaches through imports: the code that makes a stage's results."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if (PACKAGE_DIR / f"{name}.py").exists():
            todo.extend(package_imports(name))
    return tuple(sorted(seen))


def code_files(stage: Stage) -> list[Path]:
    """The files whose code makes the stage's results: its module's import closure (the compiled scanner as its C
    source) and its notebook."""
    files = []
    for name in code_modules(stage.module):
        if name == "_scan":
            files.append(PACKAGE_DIR / "_c" / "_scan.c")
        elif (PACKAGE_DIR / f"{name}.py").exists():
            files.append(PACKAGE_DIR / f"{name}.py")
    return files + [PACKAGE_DIR.parent / "notebooks" / stage.notebook]
