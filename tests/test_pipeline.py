"""The runner's bookkeeping, with notebook execution replaced by a fake that writes each stage's outputs
from its inputs; and one real end-to-end `./run_all.sh --profile smoke` in a copy of the repo."""

import itertools
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import SECRET  # the e2e smoke_run fixture lives in conftest: describe's tests share it
from descgen import config, pipeline, stages
from descgen.config import REPO_ROOT, load


@pytest.fixture
def fake_runs(monkeypatch, tmp_path, tiny_model_dir):
    """Run pipeline.main with a fake executor; returns (main(*extra_args) -> exit code, list of stages run)."""
    ran: list[str] = []
    clock = itertools.count()

    def fake_execute(cfg, stage, profile, overrides):
        ran.append(stage.name)
        key = json.dumps(pipeline.stage_key(cfg, stage), sort_keys=True)
        for path in stage.outputs(cfg):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(key)  # deterministic in params and upstream outputs, like a seeded stage
        if stage.name == "prepare":  # except its report, which holds timings, like the real one
            (cfg.data_dir / "prepare_report.json").write_text(f"{key} wall_s={next(clock)}")
        nb = pipeline.executed_notebook(cfg, stage)
        nb.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(), nb)
        return 0, 1234

    monkeypatch.setattr(pipeline, "execute", fake_execute)
    base = ["--profile", "smoke", "--set", f"paths.outputs={tmp_path / 'outputs'}",
            "--set", f"paths.adapter_dir={tmp_path / 'adapter'}", "--set", f"model.name={tiny_model_dir}"]

    def main(*extra):
        ran.clear()
        return pipeline.main(base + list(extra))

    return main, ran


ALL = ["prepare", "baseline", "train", "compare", "demo"]


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.name)
def test_notebooks_are_stored_without_outputs_and_have_one_parameters_cell(stage):
    nb = nbformat.read(REPO_ROOT / "notebooks" / stage.notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c for c in code if "parameters" in c.metadata.get("tags", [])] == [code[0]]
    assert "profile = " in code[0].source and "overrides = " in code[0].source
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_first_run_runs_every_stage_and_writes_manifests(fake_runs, tmp_path):
    main, ran = fake_runs
    assert main() == 0
    assert ran == ALL
    manifest = json.loads((tmp_path / "outputs" / "manifests" / "train.json").read_text())
    for key in ("params_hash", "inputs", "upstream", "outputs", "packages", "git_commit", "started", "ended",
                "wall_s", "peak_rss_bytes"):
        assert key in manifest


def test_second_run_reruns_nothing(fake_runs):
    main, ran = fake_runs
    main()
    assert main() == 0
    assert ran == []


@pytest.mark.parametrize("change, expected", [
    ("train.learning_rate=1e-3", ["train", "compare", "demo"]),
    ("data.n_train=300", ALL),
    ("eval.max_new_tokens=40", ["baseline", "compare", "demo"]),
    ("lora.r=8", ["train", "compare", "demo"]),
    ("demo.titles=[Tutu]", ["demo"]),
])
def test_a_changed_param_reruns_exactly_the_stages_that_use_it(fake_runs, change, expected):
    main, ran = fake_runs
    main()
    assert main("--set", change) == 0
    assert ran == expected


def test_prepare_mechanics_params_do_not_touch_later_stages(fake_runs, tmp_path, tiny_model_dir):
    main, ran = fake_runs
    main()
    base = [f"paths.outputs={tmp_path / 'outputs'}", f"paths.adapter_dir={tmp_path / 'adapter'}",
            f"model.name={tiny_model_dir}"]
    before = config.load("smoke", base)
    after = config.load("smoke", base + ["data.workers=2", "data.scanner=python", "data.read_block_bytes=4096"])
    for stage in stages.STAGES[1:]:  # how prepare reads the file is prepare's business only
        assert pipeline.stage_key(after, stage) == pipeline.stage_key(before, stage), stage.name
    assert pipeline.why_stale(after, stages.BY_NAME["prepare"]).startswith("params changed")


def test_a_prepare_rerun_that_writes_the_same_splits_reruns_nothing_downstream(fake_runs, tmp_path):
    main, ran = fake_runs
    main()
    assert main("--force", "--only", "prepare") == 0  # new timings in its report, the same splits
    assert ran == ["prepare"]
    assert main() == 0
    assert ran == []


def test_changed_code_is_reported_but_does_not_rerun(fake_runs, tmp_path, monkeypatch, capsys):
    main, ran = fake_runs
    module = tmp_path / "train.py"
    module.write_text("LR = 1\n")
    monkeypatch.setattr(pipeline, "code_files", lambda stage: [module] if stage.name == "train" else [])
    main()
    module.write_text("LR = 2\n")
    capsys.readouterr()
    assert main() == 0
    assert ran == []  # a refactor must not retrain a model by itself
    out = capsys.readouterr().out
    assert f"train: up to date (code changed since it ran: {module}; --from train reruns it)" in out
    assert "baseline: up to date\n" in out


def test_another_kind_of_machine_reruns_every_stage_that_runs_the_model(fake_runs, monkeypatch, capsys):
    from descgen import modeling

    main, ran = fake_runs
    monkeypatch.setattr(modeling, "cpu_has_bf16", lambda: True)
    assert main("--set", "model.dtype=auto") == 0 and ran == ALL
    assert main("--set", "model.dtype=auto") == 0 and ran == []
    monkeypatch.setattr(modeling, "cpu_has_bf16", lambda: False)  # the same outputs, continued on an AVX2-only CPU
    capsys.readouterr()
    assert main("--set", "model.dtype=auto") == 0 and ran == ["baseline", "train", "compare", "demo"]
    assert "compute dtype changed (bfloat16 there, float32 here)" in capsys.readouterr().out


def test_a_deleted_artifact_reruns_its_stage(fake_runs, tmp_path):
    main, ran = fake_runs
    main()
    (tmp_path / "outputs" / "eval" / "compare.json").unlink()
    main()
    assert ran == ["compare"]  # it rewrites the same content, so nothing downstream moves


def test_a_changed_input_file_reruns_from_prepare(fake_runs, tmp_path, tiny_model_dir):
    main, ran = fake_runs
    data = tmp_path / "trn.json"
    shutil.copy(REPO_ROOT / "dataset" / "sample" / "trn.json", data)
    main("--set", f"data.path={data}")
    with open(data, "a") as fh:
        fh.write("\n")
    main("--set", f"data.path={data}")
    assert ran[0] == "prepare"


def test_force_and_only(fake_runs):
    main, ran = fake_runs
    main()
    main("--force")
    assert ran == ALL
    main("--only", "compare")
    assert ran == ["compare"]
    main("--from", "train")
    assert ran == ["train", "compare", "demo"]


def test_from_and_only_refuse_a_stale_upstream_stage(fake_runs, capsys):
    main, ran = fake_runs
    main()
    assert main("--from", "train", "--set", "data.n_train=300") == 2  # prepare's outputs were made for 400
    assert ran == []
    assert "stage 'prepare' comes before 'train' and is out of date" in capsys.readouterr().err
    assert main("--only", "demo", "--set", "lora.r=8") == 2  # train is stale; demo would show the old adapter
    assert ran == []
    assert main("--only", "baseline", "--set", "lora.r=8") == 0  # nothing before baseline depends on lora
    assert ran == ["baseline"]


def test_a_failed_stage_stops_the_run_and_leaves_no_manifest(fake_runs, monkeypatch, tmp_path, capsys):
    main, ran = fake_runs
    main()

    def failing(cfg, stage, profile, overrides):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("train.run(cfg)")
        cell.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
        nb.cells = [cell]
        nbformat.write(nb, pipeline.executed_notebook(cfg, stage))
        return 1, 0

    monkeypatch.setattr(pipeline, "execute", failing)
    assert main("--only", "train") == 1
    err = capsys.readouterr().err
    assert "stage 'train' failed" in err and "cell 0" in err and "ValueError: boom" in err
    assert "outputs/notebooks/03_train_lora.ipynb" in err or "03_train_lora.ipynb" in err
    assert not (tmp_path / "outputs" / "manifests" / "train.json").exists()


def test_a_stage_interrupted_by_a_signal_leaves_no_manifest(fake_runs, monkeypatch, tmp_path):
    main, ran = fake_runs
    main()

    def interrupted(cfg, stage, profile, overrides):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main("--only", "compare")
    assert not (tmp_path / "outputs" / "manifests" / "compare.json").exists()
    assert (tmp_path / "outputs" / "manifests" / "train.json").exists()


def test_unknown_override_fails_fast_with_the_key_named(capsys):
    assert pipeline.main(["--set", "lora.rr=8"]) == 2
    assert "unknown key 'lora.rr'" in capsys.readouterr().err


def test_missing_trn_json_stops_at_once_saying_where_to_get_it(tmp_path, capsys):
    assert pipeline.main(["--set", f"data.path={tmp_path / 'trn.json'}"]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "LF-AmazonTitles-1.3MM" in err


# ---------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def train_command(smoke_run):
    """`python -m descgen.train` in the same copy, on the splits the notebooks wrote, into another adapter folder
    (10 steps instead of the profile's 75: the artifacts, not the weights, are compared)."""
    copy, _, _ = smoke_run
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-m", "descgen.train", "--profile", "smoke", "--set", "train.max_steps=10",
                           "--set", "paths.adapter_dir=cli_adapter"], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return copy / "cli_adapter", done


@pytest.mark.e2e
def test_smoke_run_executes_every_notebook_without_an_error_cell(smoke_run):
    copy, _, _ = smoke_run
    for stage in stages.STAGES:
        executed = copy / "outputs" / "notebooks" / stage.notebook
        nb = nbformat.read(executed, as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (stage.name, errors)
        assert executed.with_suffix(".html").stat().st_size > 10_000


@pytest.mark.e2e
def test_rendered_notebooks_and_the_runs_output_carry_no_library_noise(smoke_run):
    copy, done, _ = smoke_run
    for stage in stages.STAGES:
        nb = nbformat.read(copy / "outputs" / "notebooks" / stage.notebook, as_version=4)
        stderr = [o["text"] for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
        assert stderr == [], (stage.name, stderr)
    printed = done.stdout + done.stderr
    for noise in ("Kernel is running over TCP", "Failed to load CPU gemm_4bit_forward", "is deprecated", "Warning"):
        assert noise not in printed


@pytest.mark.e2e
def test_smoke_run_splits_are_disjoint_and_sized(smoke_run):
    copy, _, _ = smoke_run
    cfg = load("smoke")
    uids = {}
    for name, size in (("train", cfg.data.n_train), ("validation", cfg.data.n_validation), ("test", cfg.data.n_test)):
        rows = [json.loads(line) for line in open(copy / "outputs" / "data" / f"{name}.jsonl")]
        assert len(rows) == size
        uids[name] = {r["uid"] for r in rows}
    assert not (uids["train"] & uids["test"]) and not (uids["train"] & uids["validation"])


@pytest.mark.e2e
def test_smoke_run_adapter_covers_the_four_fused_modules_and_lowered_eval_loss(smoke_run):
    from safetensors import safe_open

    copy, _, _ = smoke_run
    with safe_open(copy / "modelo_finetuned" / "adapter_model.safetensors", "pt") as weights:
        names = list(weights.keys())
    for module in ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"):
        assert any(f".{module}.lora_A" in n for n in names) and any(f".{module}.lora_B" in n for n in names)
    report = json.loads((copy / "modelo_finetuned" / "training_report.json").read_text())
    assert report["best_eval_loss"] < report["initial_eval_loss"]


@pytest.mark.e2e
def test_smoke_run_compare_json_scores_both_models_on_the_same_rows(smoke_run):
    copy, _, _ = smoke_run
    report = json.loads((copy / "outputs" / "eval" / "compare.json").read_text())
    assert report["n"] == load("smoke").data.n_test
    for name in ("baseline", "finetuned"):
        for key in ("rouge1", "rouge2", "rougeL", "perplexity", "stop_rate"):
            assert isinstance(report["models"][name][key], float)
    assert set(report["models"]["retrieval"]) >= {"rouge1", "rouge2", "rougeL"}
    for key in ("rouge1", "rouge2", "rougeL", "perplexity", "stop_rate"):
        assert set(report["delta"][key]) == {"mean", "ci_low", "ci_high"}
    base = [json.loads(l)["uid"] for l in open(copy / "outputs" / "eval" / "baseline_predictions.jsonl")]
    tuned = [json.loads(l)["uid"] for l in open(copy / "outputs" / "eval" / "finetuned_predictions.jsonl")]
    assert base == tuned


@pytest.mark.e2e
def test_smoke_rerun_is_all_up_to_date(smoke_run):
    _, _, again = smoke_run
    assert again.returncode == 0
    assert again.stdout.count("up to date") >= 5 and "running" not in again.stdout


@pytest.mark.e2e
def test_the_hf_token_is_never_written(smoke_run):
    copy, done, _ = smoke_run
    for folder in ("outputs", "modelo_finetuned"):
        for path in (copy / folder).rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.e2e
def test_the_train_command_writes_what_the_notebook_writes(smoke_run, train_command):
    copy, _, _ = smoke_run
    adapter, done = train_command
    notebook_adapter = copy / "modelo_finetuned"
    # (compare writes the copy-or-write gate beside the notebook run's adapter)
    assert sorted(p.name for p in adapter.iterdir()) == sorted(p.name for p in notebook_adapter.iterdir()
                                                                if p.name not in (".gitkeep", "gate.json"))
    report = json.loads((adapter / "training_report.json").read_text())
    from_notebook = json.loads((notebook_adapter / "training_report.json").read_text())
    assert report.keys() == from_notebook.keys()
    assert report["final_step"] == report["max_steps"] == 10
    for key in ("train_rows", "validation_rows", "trainable_params", "adapted_modules", "base_model"):
        assert report[key] == from_notebook[key], key
    assert report["best_eval_loss"] < report["initial_eval_loss"]
    assert json.loads(done.stdout.strip().splitlines()[-1])["final_step"] == 10


@pytest.mark.e2e
def test_smoke_run_draws_the_word_clouds(smoke_run):
    copy, _, _ = smoke_run
    for name in ("wordcloud_titles.png", "wordcloud_descriptions.png"):
        png = copy / "outputs" / "data" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name


# ---------------------------------------------------------------------------------------------- a run you can watch
@pytest.mark.e2e
def test_a_headless_run_prints_training_and_generation_progress_and_the_headline(smoke_run):
    copy, done, _ = smoke_run
    out = done.stdout
    cfg = load("smoke")
    steps = [line for line in out.splitlines() if "[train] " in line]
    assert steps and all(" loss " in line and " tok/s " in line for line in steps)
    final = json.loads((copy / "modelo_finetuned" / "training_report.json").read_text())["final_step"]
    assert f"[train] {final}/{final} steps" in steps[-1] and "eval_loss" in out
    n = cfg.data.n_test
    for name in ("baseline", "finetuned", "baseline_rag"):
        assert f"[generating {name}] {n}/{n} rows" in out, name
    assert "[prepare: scanning]" in out and "[demo: fine-tuned]" in out
    assert "\x1b[" not in out and "\r" not in out  # plain lines: a log file stays readable
    report = json.loads((copy / "outputs" / "eval" / "compare.json").read_text())
    assert f"finetuned     {report['models']['finetuned']['rougeL']:.4f}" in out
    best = report["best"]  # the system describe ships, named with its score against the floor
    assert best["name"] in ("finetuned", "retrieval", "gated") and best["name"] != "oracle"
    ci = best["vs_retrieval"]
    assert (f"best system keeping the precision promise: {best['name']} {best['rougeL']:.4f}" in out
            and (ci is None or f"{ci['mean']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]" in out))
    # beside ROUGE-L, what a shop cannot publish: wrong products and wrong facts, judged by the true descriptions
    gated = report["models"]["gated"]
    assert f"{gated['wrong_product_rate']:>13.1%} {gated['wrong_fact_rate']:>10.1%}" in out
    assert "the gate's copies: precision" in out or report["gate"]["copied_test_rows"] == 0
    assert "tensorboard --logdir outputs/tensorboard" in out
    assert (copy / "outputs" / "notebooks" / "03_train_lora.log").read_text().count("[train] ") == len(steps)


@pytest.mark.e2e
def test_training_writes_tensorboard_curves_and_compare_its_headline(smoke_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from descgen import train

    copy, _, _ = smoke_run
    cfg = load("smoke", [f"paths.outputs={copy / 'outputs'}", f"paths.adapter_dir={copy / 'modelo_finetuned'}"])
    run = train.tensorboard_dir(cfg)  # the notebook's run (train_command's is another folder beside it)
    assert run.parent == copy / "outputs" / "tensorboard" / "train" and list(run.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(run)).Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "eval/loss", "train/learning_rate", "train/tokens_per_s"} <= set(tags)
    losses = events.Scalars("train/loss")
    history = json.loads((copy / "modelo_finetuned" / "log_history.json").read_text())
    assert [e.step for e in losses] == [h["step"] for h in history if "loss" in h]
    compare = EventAccumulator(str(copy / "outputs" / "tensorboard" / "compare")).Reload()
    report = json.loads((copy / "outputs" / "eval" / "compare.json").read_text())
    assert compare.Scalars("compare/rougeL/finetuned")[0].value == pytest.approx(report["models"]["finetuned"]["rougeL"])


@pytest.mark.e2e
def test_the_model_card_is_a_hub_card_whose_numbers_are_compare_jsons(smoke_run):
    from descgen import model_card

    copy, _, _ = smoke_run
    card = copy / "modelo_finetuned" / "README.md"
    meta = model_card.read_front_matter(card)
    assert meta["library_name"] == "peft" and meta["pipeline_tag"] == "text-generation"
    assert meta["base_model"] == load("smoke").model.name and meta["tags"] and meta["datasets"]
    text = card.read_text()
    report = json.loads((copy / "outputs" / "eval" / "compare.json").read_text())
    for name, label in model_card.SYSTEM_NAMES.items():
        m = report["models"][name]
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert f"| {m['rougeL']:.4f} |" in row
        if name != "baseline":
            ci = report["vs_baseline"][name]["rougeL"]
            assert f"{ci['mean']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]" in row
    best = report["best"]
    assert (f"**Best system keeping the precision promise: {model_card.SYSTEM_NAMES[best['name']]}**, ROUGE-L "
            f"{best['rougeL']:.4f}") in text
    gated = next(line for line in text.splitlines() if line.startswith(f"| {model_card.SYSTEM_NAMES['gated']} |"))
    m = report["models"]["gated"]
    assert f"| {m['wrong_product_rate']:.2f} | {m['wrong_fact_rate']:.2f} | {m['whole_sentence_rate']:.2f} |" in gated
    prepare = json.loads((copy / "outputs" / "data" / "prepare_report.json").read_text())
    assert f"| eligible rows | {prepare['eligible']:,} |" in text
    assert "PeftModel.from_pretrained" in text
