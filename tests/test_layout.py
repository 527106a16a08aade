"""The package's layers: five stage modules side by side on shared modules, one table naming every artifact, and
the prompt built from a row, rendering today's text byte for byte."""

import importlib
import re

import nbformat
import pytest

from descgen import config, modeling, stages
from descgen.predictor import Predictor
from descgen.config import ConfigError, REPO_ROOT
from descgen.prompts import encode_prompt, prompt_text, user_message

PACKAGE = REPO_ROOT / "descgen"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
SHARED = [m for m in MODULES if m not in stages.STAGE_NAMES and m != "pipeline"]


def test_the_import_reader_sees_every_form_of_import(tmp_path, monkeypatch):
    (tmp_path / "probe.py").write_text("from . import a, b\nfrom .c import d\nimport descgen.e\n"
                                       "from descgen import f\nfrom descgen.g import h\n"
                                       "def later():\n    from .i import j\n")
    monkeypatch.setattr(stages, "PACKAGE_DIR", tmp_path)
    assert stages.package_imports("probe") == {"a", "b", "c", "e", "f", "g", "i"}


@pytest.mark.parametrize("stage", stages.STAGE_NAMES)
def test_a_stage_imports_no_other_stage_and_not_the_runner(stage):
    assert stages.package_imports(stage) & (set(stages.STAGE_NAMES) | {"pipeline"}) == set()


@pytest.mark.parametrize("module", SHARED)
def test_a_shared_module_imports_no_stage_and_not_the_runner(module):
    assert stages.package_imports(module) & (set(stages.STAGE_NAMES) | {"pipeline"}) == set()


def test_no_import_circle_among_the_package_s_modules():
    # every import form counts, a function's own included: a circle is a circle even where Python tolerates it
    graph = {m: stages.package_imports(m) & set(MODULES) for m in MODULES}
    done, path = set(), []

    def visit(module):
        assert module not in path, f"import circle: {' -> '.join(path[path.index(module):] + [module])}"
        if module in done:
            return
        path.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in MODULES:
        visit(module)


def test_no_function_in_the_package_is_over_sixty_lines():
    # a function a reader takes in at once: longer ones are split into named steps (compare.run reads as 04_compare)
    import ast

    long = [f"{path.stem}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for path in sorted(PACKAGE.glob("*.py")) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert long == []


def test_the_runner_imports_no_stage_module():
    # it runs the stages' notebooks, and takes what it knows of them from the table
    assert stages.package_imports("pipeline") & set(stages.STAGE_NAMES) == set()


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.name)
def test_each_stage_has_its_module_and_a_notebook_that_calls_its_run(stage):
    assert (PACKAGE / f"{stage.module}.py").exists()
    nb = nbformat.read(REPO_ROOT / "notebooks" / stage.notebook, as_version=4)
    assert any(f"{stage.module}.run(cfg" in cell.source for cell in nb.cells if cell.cell_type == "code")


def test_every_artifact_file_name_is_written_in_the_stage_table_alone():
    names = {a.file for a in stages.ARTIFACTS.values()}
    for module in MODULES:
        if module == "stages":
            continue
        source = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
        found = sorted(name for name in names if re.search(rf"[\"'/]{re.escape(name)}[\"']", source))
        assert not found, f"descgen/{module}.py spells {found}: take the path from stages.path()"


def test_each_stage_writes_artifacts_of_its_own():
    for stage in stages.STAGES:
        assert {stages.ARTIFACTS[a].stage for a in stage.writes} == {stage.name}
        assert set(stage.hands_on or ()) <= set(stage.writes)


def test_a_missing_artifact_names_the_stage_that_writes_it(tmp_path):
    from conftest import make_cfg

    cfg = make_cfg(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"run the prepare stage first \(./run_all.sh --from prepare"):
        stages.read_split(cfg, "test")
    with pytest.raises(FileNotFoundError, match="run the train stage first"):
        Predictor.load(cfg, adapter=True)


def test_a_stage_s_code_is_its_import_closure_and_its_notebook():
    files = {p.relative_to(REPO_ROOT).as_posix() for p in stages.code_files(stages.BY_NAME["prepare"])}
    assert {"descgen/prepare.py", "descgen/scan.py", "descgen/clean.py", "descgen/_c/_scan.c", "descgen/config.py",
            "notebooks/01_prepare.ipynb"} <= files
    assert "descgen/train.py" not in files
    train = {p.name for p in stages.code_files(stages.BY_NAME["train"])}
    assert {"train.py", "losses.py", "modeling.py", "prompts.py", "fused_lora.py"} <= train


# ---------------------------------------------------------------------------------------------- the prompt
# Before the prompt took a row, it was  f"{instruction}\n\nTitle: {title}"  and the params had no prompt.fields;
# these hashes name the runs and manifests made then (outputs/train/<hash>/, outputs/manifests/*.json).
HASHES_BEFORE_FIELDS = {
    "default": {"prepare": "697e44dd68e7e946", "baseline": "adee47cbab599756", "train": "a2ab70257a3d043f",
                "compare": "7332c920f43f4225", "demo": "8ae00776f56fc315"},
    "smoke": {"prepare": "e45c6cd077495cda", "baseline": "340bf7b8d7e0dffb", "train": "b1f213ed5775e2de",
              "compare": "cb266b50822cdd8d", "demo": "ce4e6b1ed0cf9dfe"},
    "cpu": {"prepare": "7dacdf8f07140562", "baseline": "066dbca769ab4401", "train": "33b0d6d351ddce52",
            "compare": "a056b1a7a2c93b2e", "demo": "e31923ecdd2f5007"},
}


# what those runs had, where a profile has changed since (every profile now shows a neighbour and bans repeated
# n-grams in the output only; the cpu profile now has a short system message, 160 test rows, evals every 14 steps;
# the default profile generates 32 rows at a time, describe's batch then; neighbours come from the catalogue, with
# frequent terms left out of the index; descriptions are trimmed to whole sentences, titles cut where every prompt is
# made, and the gate promises its precision)
THEN = ["eval.no_repeat_ngram_scope=prompt_and_output", "retrieval.source=train", "retrieval.max_term_rows=null",
        "data.trim_to_sentence=false", "prompt.max_title_tokens=null", "gate.min_precision=0"]
PARAMS_THEN = {"default": THEN + ["retrieval.k=0", "eval.batch_size=16"], "smoke": THEN + ["retrieval.k=0"],
               "cpu": THEN + ["retrieval.k=0", "train.max_seq_len=192", "prompt.system=null", "data.n_test=200",
                              "train.learning_rate=4.0e-4",
                              "train.eval_steps=10", "train.save_steps=10"]}


@pytest.mark.parametrize("profile", sorted(HASHES_BEFORE_FIELDS))
def test_runs_made_before_prompt_fields_existed_stay_valid(profile):
    cfg = config.load(profile, PARAMS_THEN[profile] + ["eval.lora_weights=unmerged"])
    assert {s.name: s.params_hash(cfg) for s in stages.STAGES} == HASHES_BEFORE_FIELDS[profile]


def test_merged_weights_move_the_stages_that_run_the_fine_tune_and_not_the_baseline():
    # bf16 texts from merged weights differ from the adapter on top's: compare and the demo rerun, the baseline (the
    # base model alone) and training do not; the web page's queue moves nothing
    cfg, now = (config.load("cpu", [f"eval.lora_weights={w}"]) for w in ("unmerged", "auto"))
    moved = {s.name for s in stages.STAGES if s.params_hash(cfg) != s.params_hash(now)}
    assert moved == {"compare", "demo"}
    queue = config.load("cpu", ["demo.max_queue=3"])
    assert all(s.params_hash(queue) == s.params_hash(config.load("cpu")) for s in stages.STAGES)


def test_a_prompt_field_other_than_the_title_alone_changes_the_hashes():
    shown = config.load("smoke", ["prompt.fields={title: Title, uid: Item}"])
    assert shown.section_hash("prompt") != config.load("smoke").section_hash("prompt")


def test_the_title_prompt_renders_and_tokenizes_as_before(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    title = "Girls Ballet Tutu Neon Pink, 2-4T"
    before = ("<|user|>Write the Amazon product description for this product.\n\nTitle: " + title
              + "<|end|><|assistant|>")
    row = {"uid": "B00X", "title": title, "content": "A tutu."}
    assert prompt_text(tokenizer, smoke_cfg.prompt, row) == before
    assert encode_prompt(tokenizer, smoke_cfg.prompt, row) == tokenizer(before, add_special_tokens=False)["input_ids"]


def test_prompt_fields_show_each_named_field_in_order():
    prompt = config.load("smoke", ["prompt.fields={title: Title, uid: Item number}"]).prompt
    assert user_message(prompt, {"uid": "B01", "title": "Tutu", "content": "x"}) == (
        "Write the Amazon product description for this product.\n\nTitle: Tutu\n\nItem number: B01")


def test_a_row_without_a_shown_field_is_a_clear_error():
    prompt = config.load("smoke", ["prompt.fields={title: Title, brand: Brand}"]).prompt
    with pytest.raises(ValueError, match="prompt.fields shows 'brand', which this row lacks"):
        user_message(prompt, {"uid": "B01", "title": "Tutu"})


def test_the_answer_can_never_be_shown_in_the_prompt():
    with pytest.raises(ConfigError, match="must not show 'content'"):
        config.load("smoke", ["prompt.fields={title: Title, content: Description}"])
    with pytest.raises(ConfigError, match="at least one row field"):
        config.load("smoke", ["prompt.fields={}"])


# ---------------------------------------------------------------------------------------------- stage commands
@pytest.mark.parametrize("module", ["train", "baseline", "compare"])
def test_a_stage_command_line_refuses_a_bad_param_naming_the_key(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as stopped:
        importlib.import_module(f"descgen.{module}").main(["--profile", "smoke", "--set", "lora.rr=8"])
    assert stopped.value.code == 2
    assert "unknown key 'lora.rr'" in capsys.readouterr().err


def test_config_sections_do_not_reuse_library_class_names():
    import peft
    import transformers

    for cls in config.SECTIONS.values():
        assert not hasattr(peft, cls.__name__) and not hasattr(transformers, cls.__name__), cls.__name__


@pytest.mark.parametrize("stage", ["baseline", "train", "compare"])
def test_a_stage_command_without_its_inputs_names_the_stage_to_run(stage, tmp_path):
    """`python -m descgen.<stage>` before prepare: one line naming the stage that writes the missing file (exit
    status 2), said before any model loads; not require()'s traceback."""
    module = importlib.import_module(f"descgen.{stage}")
    argv = ["--profile", "smoke", "--set", f"paths.outputs={tmp_path}", "--set", "model.name=no/such-model",
            "--set", "model.build=null"]
    with pytest.raises(SystemExit, match=rf"^{stage}: .*(test|train)\.jsonl not found: run the prepare stage first"):
        module.main(argv)
