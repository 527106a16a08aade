"""One typed config for the whole pipeline, built from params.yaml (+ a profile + `section.key=value` overrides).

Every stage receives a `Config`; no other module reads the YAML. Validation happens here, before any
model or dataset is touched: an unknown key, a wrong type or a bad choice raises `ConfigError` with one
line that names the key.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = REPO_ROOT / "params.yaml"
DEFAULT_PROFILE = "default"


class ConfigError(ValueError):
    """A problem with params.yaml, a profile or an override; the message names the key."""


# Keys added after runs were made, with the value that reproduces what the code did before they existed. While a
# key holds it, it stays out of the hashes that name runs and key manifests: adding a knob retrains no model.
NEUTRAL_VALUES: dict[str, Any] = {
    "prompt.fields": {"title": "Title"},   # the prompt showed the title alone, as "Title: …"
    # no neighbours shown (k = 0): the labels and the budget have nothing to act on
    "prompt.neighbours": {"title": "Similar product", "description": "Its description"},
    "retrieval.k": 0,
    "retrieval.min_similarity": 0.0,
    "retrieval.description_tokens": 96,
    # the train split's index, every term kept, as before the catalogue (candidates only sizes prepare's neighbour file)
    "retrieval.source": "train",
    "retrieval.candidates": 5,
    "retrieval.max_term_rows": None,
    "train.optim": "adamw_torch_fused",
    "train.packing": False,
    "eval.near_copy_rougeL": 0.5,  # only splits compare's report: no stage's outputs change
    "train.num_processes": 1,      # one process, as before it existed
    "eval.no_repeat_ngram_scope": "prompt_and_output",  # transformers' no_repeat_ngram_size, as before it existed
    "eval.lora_weights": "unmerged",  # PEFT's adapter on top, as before it existed (auto moves compare and the demo)
    "data.trim_to_sentence": False,   # descriptions as cleaned and capped, as before it existed
    "prompt.max_title_tokens": None,  # no title cut where a prompt is made (describe and the page cut at 96 then)
    "gate.min_precision": 0.0,        # no precision promise: the expected-score rule alone, as the gate was
}
# Keys that change how a stage runs, never what it writes: left out of every hash (eval.num_processes splits the
# generation over processes batch by batch, and the gathered predictions equal one process's; demo.max_queue is the
# web page's queue, which never changes a text).
RUN_ONLY_KEYS = frozenset({"eval.num_processes", "demo.max_queue"})
_NONE = object()


@dataclass(frozen=True)
class DataParams:
    path: str
    test_path: Optional[str]
    seed: int
    n_train: int
    n_validation: int
    n_test: int
    min_title_chars: int
    min_content_chars: int
    max_content_chars: Optional[int]
    decode_html: bool
    strip_tags: bool
    dedupe_titles: bool
    drop_title_echo: bool
    trim_to_sentence: bool
    read_block_bytes: int
    workers: int
    scanner: Literal["auto", "c", "python"]


@dataclass(frozen=True)
class PromptParams:
    language: str
    system: Optional[str]
    instructions: dict[str, str]
    fields: dict[str, str]
    neighbours: dict[str, str]
    max_title_tokens: Optional[int]


@dataclass(frozen=True)
class ModelParams:
    name: str
    revision: Optional[str]
    build: Optional[Literal["tiny-phi3", "smollm2-gguf", "phi4-mini-random"]]
    quantization: Literal["none", "4bit"]
    dtype: Literal["auto", "bfloat16", "float16", "float32"]
    attn_implementation: Optional[str]
    trust_remote_code: bool


@dataclass(frozen=True)
class LoraParams:
    r: int
    alpha: int
    dropout: float
    target_modules: list[str]


@dataclass(frozen=True)
class TrainParams:
    max_seq_len: int
    epochs: float
    max_steps: int
    learning_rate: float
    micro_batch_size: int
    grad_accum: int
    warmup_ratio: float
    weight_decay: float
    optim: Literal["adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "paged_adamw_8bit", "paged_adamw_32bit"]
    lr_scheduler: str
    eval_steps: int
    save_steps: int
    save_total_limit: int
    early_stopping_patience: int
    gradient_checkpointing: bool
    group_by_length: bool
    packing: bool
    loss_chunk_tokens: int
    fused_lora: bool
    resume: bool
    merge: bool
    seed: int
    logging_steps: int
    num_processes: int


@dataclass(frozen=True)
class EvalParams:
    batch_size: int
    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    no_repeat_ngram_size: int
    no_repeat_ngram_scope: Literal["output", "copy", "prompt_and_output"]
    repetition_penalty: float
    bootstrap_samples: int
    seed: int
    near_copy_rougeL: float
    num_processes: int
    lora_weights: Literal["auto", "merged", "unmerged"]


@dataclass(frozen=True)
class DescribeParams:
    chunk_rows: int


@dataclass(frozen=True)
class RetrievalParams:
    k: int
    source: Literal["catalogue", "train"]
    min_similarity: float
    description_tokens: int
    candidates: int
    max_term_rows: Optional[int]


@dataclass(frozen=True)
class GateParams:
    min_precision: float


@dataclass(frozen=True)
class DemoParams:
    titles: list[str]
    max_queue: int


@dataclass(frozen=True)
class PathsParams:
    outputs: str
    adapter_dir: str
    models_dir: str


@dataclass(frozen=True)
class Config:
    profile: str
    data: DataParams
    prompt: PromptParams
    model: ModelParams
    lora: LoraParams
    train: TrainParams
    eval: EvalParams
    retrieval: RetrievalParams
    gate: GateParams
    demo: DemoParams
    describe: DescribeParams
    paths: PathsParams
    # The merged mapping the dataclasses were built from, kept for hashing and for the params copy
    # saved beside the adapter.
    raw: dict = field(repr=False, compare=False)

    # ---- paths, resolved from the repo root so notebooks work from any working directory ----
    def resolve(self, path: str | Path) -> Path:
        return resolve_path(path)

    @property
    def outputs_dir(self) -> Path:
        return self.resolve(self.paths.outputs)

    @property
    def data_dir(self) -> Path:
        return self.outputs_dir / "data"

    @property
    def eval_dir(self) -> Path:
        return self.outputs_dir / "eval"

    @property
    def demo_dir(self) -> Path:
        return self.outputs_dir / "demo"

    @property
    def adapter_dir(self) -> Path:
        return self.resolve(self.paths.adapter_dir)

    @property
    def manifests_dir(self) -> Path:
        return self.outputs_dir / "manifests"

    @property
    def model_path(self) -> str:
        """A local folder if `model.name` names one (relative to the repo root), else the hub id."""
        local = self.resolve(self.model.name)
        if self.model.build is not None or local.exists():
            return str(local)
        return self.model.name

    def section_hash(self, *keys: str, leave_out: tuple[str, ...] = ()) -> str:
        """Stable hash of the named sections or `section.key` entries, for manifests and run folders. A key in
        NEUTRAL_VALUES that holds its neutral value is left out, so the hash is the one from before it existed; so
        is a `section.key` in `leave_out` (a key of a named section that the caller's results do not depend on)."""
        picked = {}
        for key in keys:
            section, _, sub = key.partition(".")
            value = self.raw[section]
            if sub:
                if NEUTRAL_VALUES.get(key, _NONE) != value[sub]:
                    picked[key] = value[sub]
                continue
            kept = {k: v for k, v in value.items() if NEUTRAL_VALUES.get(f"{section}.{k}", _NONE) != v
                    and f"{section}.{k}" not in RUN_ONLY_KEYS and f"{section}.{k}" not in leave_out}
            if kept or not value:  # a section wholly at its neutral values is as if it did not exist
                picked[key] = kept
        blob = json.dumps(picked, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


SECTIONS: dict[str, type] = {
    "data": DataParams,
    "prompt": PromptParams,
    "model": ModelParams,
    "lora": LoraParams,
    "train": TrainParams,
    "eval": EvalParams,
    "retrieval": RetrievalParams,
    "gate": GateParams,
    "demo": DemoParams,
    "describe": DescribeParams,
    "paths": PathsParams,
}


def resolve_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def load(
    profile: str | None = None,
    overrides: list[str] | tuple[str, ...] | None = None,
    params_file: str | Path | None = None,
) -> Config:
    """Build the config: params.yaml's top level, then the profile's overrides, then `section.key=value`s."""
    params_path = Path(params_file) if params_file else PARAMS_FILE
    if not params_path.exists():
        raise ConfigError(f"params file not found: {params_path}")
    with open(params_path, encoding="utf-8") as fh:
        document = yaml.safe_load(fh) or {}
    if not isinstance(document, dict):
        raise ConfigError(f"{params_path}: top level must be a mapping")

    profiles = document.pop("profiles", {}) or {}
    merged = copy.deepcopy(document)
    profile = profile or DEFAULT_PROFILE
    if profile != DEFAULT_PROFILE:
        if profile not in profiles:
            known = ", ".join([DEFAULT_PROFILE, *profiles])
            raise ConfigError(f"unknown profile {profile!r} (known: {known})")
        _merge_into(merged, profiles[profile], where=f"profiles.{profile}")
    for item in overrides or ():
        _apply_override(merged, item)
    return build(merged, profile)


def build(merged: dict, profile: str = DEFAULT_PROFILE) -> Config:
    unknown = set(merged) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section {sorted(unknown)[0]!r} (known: {', '.join(SECTIONS)})")
    sections = {}
    for name, cls in SECTIONS.items():
        if name not in merged:
            raise ConfigError(f"missing section {name!r}")
        sections[name] = _build_section(cls, merged[name], name)
    cfg = Config(profile=profile, raw=merged, **sections)
    _check_values(cfg)
    return cfg


def from_command_line(prog: str, description: str, argv: list[str] | None = None) -> Config:
    """The config a stage's command line names: `--profile P --set section.key=value ...`, as run_all.sh takes
    them. A params error exits with status 2 and one line naming the key."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help="a profile from params.yaml (default, smoke, cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        return load(args.profile, args.overrides)
    except ConfigError as exc:
        parser.exit(2, f"{prog}: params error: {exc}\n")


def as_overrides(cfg: Config) -> list[str]:
    """`--set section.key=value` arguments that rebuild exactly this config from its profile (values as JSON, which
    YAML reads back unchanged): how a launcher hands a notebook's config to the processes it starts."""
    items = []
    for section, values in cfg.raw.items():
        for key, value in values.items():
            items += ["--set", f"{section}.{key}={json.dumps(value)}"]
    return items


def available_profiles(params_file: str | Path | None = None) -> list[str]:
    with open(params_file or PARAMS_FILE, encoding="utf-8") as fh:
        document = yaml.safe_load(fh) or {}
    return [DEFAULT_PROFILE, *(document.get("profiles") or {})]


# ---------------------------------------------------------------------------------------------------
def _merge_into(base: dict, patch: dict, where: str) -> None:
    if not isinstance(patch, dict):
        raise ConfigError(f"{where} must be a mapping")
    for section, values in patch.items():
        if section not in base:
            raise ConfigError(f"unknown key {section!r} in {where}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}.{section} must be a mapping")
        for key, value in values.items():
            if key not in base[section]:
                raise ConfigError(f"unknown key '{section}.{key}' in {where}")
            base[section][key] = value


def _apply_override(merged: dict, item: str) -> None:
    key, sep, text = item.partition("=")
    section, dot, sub = key.strip().partition(".")
    if not sep or not dot or not sub:
        raise ConfigError(f"override {item!r} must look like section.key=value")
    if section not in merged:
        raise ConfigError(f"unknown key {key.strip()!r}: no section {section!r}")
    if sub not in merged[section]:
        raise ConfigError(f"unknown key {key.strip()!r}")
    try:
        merged[section][sub] = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {key.strip()!r}: cannot parse value {text!r}: {exc}") from None


def _build_section(cls: type, values: Any, section: str):
    if not isinstance(values, dict):
        raise ConfigError(f"section {section!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in hints]
    if unknown:
        raise ConfigError(f"unknown key '{section}.{unknown[0]}'")
    missing = [n for n in names if n not in values]
    if missing:
        raise ConfigError(f"missing key '{section}.{missing[0]}'")
    return cls(**{n: _coerce(values[n], hints[n], f"{section}.{n}") for n in names})


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if isinstance(value, str):  # `--set lora.target_modules=all-linear` style
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        # YAML reads "2e-4" as a string (it wants "2.0e-4"); accept both.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {hint}")  # pragma: no cover - a bug in this file


def _check_values(cfg: Config) -> None:
    def positive(key: str, value: float) -> None:
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")

    for key in ("n_validation", "n_test", "read_block_bytes", "workers"):
        positive(f"data.{key}", getattr(cfg.data, key))
    if cfg.data.n_train != -1:
        positive("data.n_train (or -1: every eligible row)", cfg.data.n_train)
    for key in ("max_seq_len", "learning_rate", "micro_batch_size", "grad_accum", "eval_steps",
                "save_steps", "loss_chunk_tokens", "logging_steps"):
        positive(f"train.{key}", getattr(cfg.train, key))
    for key in ("batch_size", "max_new_tokens", "bootstrap_samples"):
        positive(f"eval.{key}", getattr(cfg.eval, key))
    positive("describe.chunk_rows", cfg.describe.chunk_rows)
    if cfg.prompt.max_title_tokens is not None:
        positive("prompt.max_title_tokens (or null: never cut)", cfg.prompt.max_title_tokens)
    if (cfg.prompt.max_title_tokens or 0) > cfg.train.max_seq_len // 2:
        # the rest of a training example is the template, the neighbours and the description itself
        raise ConfigError(f"prompt.max_title_tokens ({cfg.prompt.max_title_tokens}) must be at most half of "
                          f"train.max_seq_len ({cfg.train.max_seq_len}): a title may not take a training example's room")
    positive("train.num_processes", cfg.train.num_processes)
    positive("eval.num_processes", cfg.eval.num_processes)
    if cfg.retrieval.k < 0:
        raise ConfigError(f"retrieval.k must be >= 0, got {cfg.retrieval.k}")
    if cfg.retrieval.candidates < max(cfg.retrieval.k, 1):
        raise ConfigError(f"retrieval.candidates ({cfg.retrieval.candidates}) must be >= retrieval.k "
                          f"({cfg.retrieval.k}) and >= 1: prepare stores that many neighbours per row")
    if cfg.retrieval.max_term_rows is not None:
        positive("retrieval.max_term_rows (or null: keep every term)", cfg.retrieval.max_term_rows)
    positive("retrieval.description_tokens", cfg.retrieval.description_tokens)
    positive("demo.max_queue", cfg.demo.max_queue)
    if not 0.0 <= cfg.gate.min_precision <= 1.0:
        raise ConfigError(f"gate.min_precision must be in [0, 1] (0: no promise), got {cfg.gate.min_precision}")
    if set(cfg.prompt.neighbours) != {"title", "description"}:
        raise ConfigError("prompt.neighbours must give two labels: {title: ..., description: ...}")
    positive("lora.r", cfg.lora.r)
    if cfg.train.save_steps % cfg.train.eval_steps:
        # the best checkpoint is chosen on eval loss, so every save must follow an evaluation
        raise ConfigError(
            f"train.save_steps ({cfg.train.save_steps}) must be a multiple of train.eval_steps "
            f"({cfg.train.eval_steps})"
        )
    if cfg.prompt.language not in cfg.prompt.instructions:
        raise ConfigError(
            f"prompt.language {cfg.prompt.language!r} has no entry in prompt.instructions "
            f"(have: {', '.join(cfg.prompt.instructions)})"
        )
    if not cfg.prompt.fields:
        raise ConfigError("prompt.fields must show at least one row field (e.g. {title: Title})")
    if "content" in cfg.prompt.fields:
        raise ConfigError("prompt.fields must not show 'content': it is the description the model is to write")
    if not cfg.lora.target_modules:
        raise ConfigError("lora.target_modules must name at least one module (or all-linear)")
    if cfg.eval.lora_weights == "merged" and cfg.model.quantization == "4bit":
        raise ConfigError("eval.lora_weights: merged with model.quantization: 4bit would merge the adapter into "
                          "nf4 weights, which rounds it away: use auto or unmerged (the adapter on top, as trained)")


def missing_data_message(cfg: Config) -> str | None:
    """None when the configured data files exist, else one message that says where to get them."""
    path = cfg.resolve(cfg.data.path)
    if not path.exists():
        return (
            f"data.path: {path} not found. Download LF-AmazonTitles-1.3MM (trn.json.gz / trn.json) from the "
            "Extreme Classification Repository (http://manikvarma.org/downloads/XC/XMLRepository.html), "
            f"put it at {cfg.data.path}, or try the bundled sample: ./run_all.sh --profile smoke"
        )
    if cfg.data.test_path and not cfg.resolve(cfg.data.test_path).exists():
        return f"data.test_path: {cfg.resolve(cfg.data.test_path)} not found (set it to null to draw the test split from data.path)"
    return None
