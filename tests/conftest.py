"""Shared fixtures: a tiny Phi-3 (Phi-4-mini's architecture and module names) built once per session, and
configs whose every output path lies in a temp folder."""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each (torch's default of one a core would run four on two, and a tiny
    # model's matmuls gain nothing from a second thread); processes the tests start inherit it
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from descgen import config
from descgen.config import REPO_ROOT
from descgen.local_models import build_tiny_phi3
from descgen.pipeline import skip_iri_checker

skip_iri_checker()  # before any test module imports nbformat: ~1-3 s of grammar building (descgen/pipeline.py)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_phi3(tmp_path_factory.mktemp("models") / "tiny-phi3", config.load("smoke"))


def make_cfg(tmp_path: Path, *overrides: str, profile: str = "smoke", model_dir: Path | None = None) -> config.Config:
    items = [f"paths.outputs={tmp_path / 'outputs'}", f"paths.adapter_dir={tmp_path / 'adapter'}"]
    if model_dir is not None:
        items.append(f"model.name={model_dir}")
    return config.load(profile, items + list(overrides))


@pytest.fixture
def smoke_cfg(tmp_path, tiny_model_dir):
    return make_cfg(tmp_path, model_dir=tiny_model_dir)


@pytest.fixture(scope="session")
def trained_cfg(tmp_path_factory, tiny_model_dir):
    """Prepared splits and a 2-step adapter, made once for every test that needs some fine-tuned model but does not
    test training itself. Tests may write their own outputs beside it; none may retrain or delete it."""
    from descgen import prepare, train

    cfg = make_cfg(tmp_path_factory.mktemp("trained"), "train.max_steps=2", "train.eval_steps=2", "train.save_steps=2",
                   "retrieval.k=0", model_dir=tiny_model_dir)
    prepare.run(cfg)
    train.run(cfg)
    return cfg


@pytest.fixture(scope="session")
def compared_bf16(tmp_path_factory, tiny_model_dir):
    """The smoke profile in bf16 with one neighbour shown, through compare (a 4-step adapter): what the retrieval
    tests read their report from and the predictor tests hold describe's texts to. (config, training report, compare
    report)."""
    from descgen import baseline, compare, prepare, train

    cfg = make_cfg(tmp_path_factory.mktemp("rag"), "model.dtype=bfloat16", "retrieval.k=1", "train.max_steps=4",
                   "train.eval_steps=4", "train.save_steps=4", model_dir=tiny_model_dir)
    prepare.run(cfg)
    baseline.run(cfg)
    report = train.run(cfg)
    return cfg, report, compare.run(cfg)


def write_lines(path: Path, lines: list) -> Path:
    """Each item: a dict (dumped as JSON), or raw bytes / str written as they are."""
    with open(path, "wb") as fh:
        for item in lines:
            if isinstance(item, dict):
                item = json.dumps(item)
            if isinstance(item, str):
                item = item.encode()
            fh.write(item + b"\n")
    return path


def row(uid: str, title: str, content: str) -> dict:
    return {"uid": uid, "title": title, "content": content, "target_ind": [1], "target_rel": [1.0]}


# ---------------------------------------------------------------------------------------------- end to end
SECRET = "hf_thisIsNotARealTokenButMustNeverBeWritten"


def copy_repo(target: Path) -> Path:
    """What a fresh clone holds: tracked files and untracked ones git does not ignore."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (REPO_ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, target / name)
    return target


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """./run_all.sh --profile smoke in a fresh copy of the repo (tracked + untracked-not-ignored files), twice; shared
    by every e2e test (the pipeline's, describe's, the progress lines')."""
    copy = copy_repo(tmp_path_factory.mktemp("repo"))
    env = dict(os.environ, HF_TOKEN=SECRET, VIRTUAL_ENV=sys.prefix,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["./run_all.sh", "--profile", "smoke"], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    again = subprocess.run(["./run_all.sh", "--profile", "smoke"], cwd=copy, env=env, capture_output=True, text=True,
                           timeout=300)
    return copy, done, again


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (README's test command runs two workers, one a core), every test that reads the e2e smoke run
    goes to one worker, so the run (~1.5 min) is made once, not once a worker."""
    for item in items:
        if "smoke_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("smoke_run"))
