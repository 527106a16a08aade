"""descgen.describe: the catalogue batch job. Its input readers and bad-input accounting, the resume after kill -9,
the refusal of a foreign output, compare's predictions for test rows, several processes, and the vLLM path (on a
stand-in vllm module: the prompts it is handed must be the HF path's)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from conftest import make_cfg, row, write_lines
from descgen import describe
from descgen.clean import clean_text


def args_for(cfg, tmp_path: Path, **values) -> object:
    """describe's arguments; trained_cfg's tests pass write_only (that run has no compare, so no gate)."""
    namespace = describe.parse_args(["--input", str(values.pop("input")), "--output", str(values.pop("output"))])
    for key, value in values.items():
        setattr(namespace, key, value)
    return namespace


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def smoke_overrides(copy: Path) -> list[str]:
    """The e2e copy's smoke run, loaded in this process."""
    return [f"paths.outputs={copy / 'outputs'}", f"paths.adapter_dir={copy / 'modelo_finetuned'}",
            f"model.name={copy / 'models' / 'tiny-phi3'}"]


# ---------------------------------------------------------------------------------------------- input and skips
def test_trn_json_input_counts_every_skip_with_its_line_and_describes_the_rest(trained_cfg, tmp_path):
    source = write_lines(tmp_path / "in.json", [
        row("u1", "French Press 34 oz", ""),
        b"{not json",
        row("u3", "   ", ""),                       # empty title after cleaning
        {"uid": "u4", "title": 7, "content": ""},    # not a string
        row("u5", "Chef Knife &amp; Block", "Has a description already."),
        b"",                                         # blank line
        b"[1, 2]",                                   # not an object
        row("u8", "Ballet Tutu " + "very long words " * 80, ""),
    ])
    out = tmp_path / "out.jsonl"
    summary = describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input=source, output=out, missing_only=True))
    rows = read_out(out)
    assert [r["uid"] for r in rows] == ["u1", "u8"]
    assert summary["rows_read"] == 8 and summary["rows_written"] == 2
    assert summary["skipped"] == {"invalid_json": 1, "empty_title": 1, "bad_title": 1, "has_content": 1,
                                  "blank_line": 1, "not_an_object": 1}
    assert summary["skipped_lines"]["invalid_json"] == [2] and summary["skipped_lines"]["has_content"] == [5]
    assert summary["titles_truncated"] == 1 and rows[1]["title_truncated"] and "title_truncated" not in rows[0]
    for item in rows:
        assert set(item) >= {"uid", "title", "description", "stopped", "new_tokens", "unsupported"}
        assert item["new_tokens"] <= trained_cfg.eval.max_new_tokens
    assert summary["adapter"] != "base" and summary["params_hash"] and summary["rows_per_s"] > 0


def test_csv_and_stdin_inputs(trained_cfg, tmp_path):
    csv_file = tmp_path / "titles.csv"
    csv_file.write_text('uid,title\nA1,"Girls Ballet Tutu, Neon Pink"\nA2,\nA3,French Press\n')
    out = tmp_path / "csv.jsonl"
    summary = describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input=csv_file, output=out))
    assert [r["uid"] for r in read_out(out)] == ["A1", "A3"] and summary["skipped"] == {"empty_title": 1}
    assert read_out(out)[0]["title"] == "Girls Ballet Tutu, Neon Pink"

    import io

    out = tmp_path / "stdin.jsonl"
    describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input="-", output=out),
                 stdin=io.StringIO("Girls Ballet Tutu\n\nFrench Press\n"))
    assert [(r["uid"], r["title"]) for r in read_out(out)] == [("line-1", "Girls Ballet Tutu"), ("line-3", "French Press")]

    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx\n")
    assert describe.main(["--profile", "smoke", "--write-only", "--input", str(bad), "--output", str(tmp_path / "x.jsonl")] +
                         [f"--set={o}" for o in _trained_overrides(trained_cfg)]) == 2


def _trained_overrides(cfg) -> list[str]:
    return [f"paths.outputs={cfg.outputs_dir}", f"paths.adapter_dir={cfg.adapter_dir}", f"model.name={cfg.model.name}",
            "retrieval.k=0"]


def test_an_output_from_other_params_or_another_adapter_is_refused_never_mixed(trained_cfg, tmp_path):
    source = write_lines(tmp_path / "in.json", [row(f"u{i}", f"Product number {i}", "") for i in range(3)])
    out = tmp_path / "out.jsonl"
    describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input=source, output=out))
    before = out.read_bytes()
    other = make_cfg(Path(str(trained_cfg.outputs_dir)).parent, *_trained_overrides(trained_cfg)[2:],
                     "eval.max_new_tokens=7")
    with pytest.raises(SystemExit, match=r"params_hash: '[0-9a-f]+' there, '[0-9a-f]+' now"):
        describe.run(other, args_for(other, tmp_path, write_only=True, input=source, output=out))
    with pytest.raises(SystemExit, match="adapter: '[0-9a-f]+' there, 'base' now"):
        describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input=source, output=out, base=True))
    assert out.read_bytes() == before
    stranger = tmp_path / "mine.jsonl"
    stranger.write_text("{}\n")
    with pytest.raises(SystemExit, match="not written by describe"):
        describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input=source, output=stranger))


# ---------------------------------------------------------------------------------------------- vLLM (stand-in module)
def test_the_vllm_engine_is_handed_the_hf_paths_prompts(trained_cfg, tmp_path, monkeypatch):
    handed = {}

    class LLM:
        def __init__(self, **kwargs):
            handed["init"] = kwargs

        def generate(self, prompts, sampling, lora_request=None, use_tqdm=False):
            handed.update(prompts=list(prompts), sampling=sampling, lora=lora_request)
            end = sampling["stop_token_ids"][0]
            out = types.SimpleNamespace(text=" A fine product. ", token_ids=[5, 6, 7, end], finish_reason="stop")
            return [types.SimpleNamespace(outputs=[out]) for _ in prompts]

    fake = types.ModuleType("vllm")
    fake.LLM, fake.SamplingParams = LLM, lambda **kw: kw
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda name, number, path: (name, number, path)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.lora", lora)
    monkeypatch.setitem(sys.modules, "vllm.lora.request", request)

    source = write_lines(tmp_path / "in.json", [row("u1", "French Press 34 oz", ""), row("u2", "Ballet Tutu", "")])
    out = tmp_path / "vllm.jsonl"
    summary = describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input=source, output=out, engine="vllm"))
    engine = describe.HFEngine(trained_cfg, base=False, write_only=True)
    rows = [{"line": i + 1, "uid": u, "title": t, "content": ""} for i, (u, t) in
            enumerate([("u1", "French Press 34 oz"), ("u2", "Ballet Tutu")])]
    assert handed["prompts"] == engine.predictor.prompts(rows)
    assert handed["lora"][2] == str(trained_cfg.adapter_dir)
    assert handed["sampling"]["stop_token_ids"] == engine.predictor.stop_ids and handed["sampling"]["temperature"] == 0.0
    assert read_out(out)[0] == {"uid": "u1", "title": "French Press 34 oz", "description": "A fine product.",
                                "source": "written", "stopped": True, "new_tokens": 3, "unsupported": []}
    assert summary["engine"] == "vllm" and summary["not_applied"] == ["no_repeat_ngram_size"]


def test_without_vllm_the_engine_names_the_extra(trained_cfg, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails as if not installed
    source = write_lines(tmp_path / "in.json", [row("u1", "French Press", "")])
    with pytest.raises(SystemExit, match=r"pip install -e \.\[vllm\]"):
        describe.run(trained_cfg, args_for(trained_cfg, tmp_path, write_only=True, input=source, output=tmp_path / "o.jsonl",
                                           engine="vllm"))


# ---------------------------------------------------------------------------------------------- end to end (smoke run)
def eligible_missing(path: Path) -> int:
    """Rows of trn.json whose title survives cleaning and whose content is empty after it, counted here on their own."""
    count = 0
    for raw in path.read_bytes().splitlines():
        try:
            item = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if (isinstance(item, dict) and isinstance(item.get("title"), str) and clean_text(item["title"])
                and isinstance(item.get("content") or "", str) and not clean_text(item.get("content") or "")):
            count += 1
    return count


@pytest.mark.e2e
def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_file(smoke_run, tmp_path):
    """The issue's command, killed mid-run and rerun, writes one row per eligible empty-content row, and the same
    file as an uninterrupted run."""
    copy, _, _ = smoke_run
    sample = copy / "dataset" / "sample" / "trn.json"
    killed = tmp_path / "killed.jsonl"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "descgen.describe", "--profile", "smoke", "--input", str(sample),
               "--missing-only", "--output", str(killed)]
    process = subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = describe.progress_path(killed)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["chunks"] >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "describe finished before it could be killed: " + process.stderr.read().decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_chunks = json.loads(state.read_text())["chunks"]
    with open(killed, "ab") as fh:
        fh.write(b'{"uid": "half a line from the killed ')  # a chunk the killed run had begun to write

    from descgen import config

    cfg = config.load("smoke", smoke_overrides(copy))
    resumed = describe.run(cfg, args_for(cfg, tmp_path, input=sample, output=killed, missing_only=True))
    whole = tmp_path / "whole.jsonl"
    uninterrupted = describe.run(cfg, args_for(cfg, tmp_path, input=sample, output=whole, missing_only=True))
    assert 3 <= done_chunks < eligible_missing(sample) / cfg.describe.chunk_rows
    assert killed.read_bytes() == whole.read_bytes()
    rows = read_out(killed)
    assert len(rows) == resumed["rows_written"] == uninterrupted["rows_written"] == eligible_missing(sample)
    assert len({r["uid"] for r in rows}) == len(rows)
    assert resumed["skipped"] == uninterrupted["skipped"]
    # every row is a copy (with the row copied) or the fine-tune's text (shown one neighbour: retrieval.k = 1)
    assert all(r["copied_uid"] if r["source"] == "copied" else r["neighbours"] for r in rows)
    assert resumed["copied"] == uninterrupted["copied"] == sum(r["source"] == "copied" for r in rows)


@pytest.mark.e2e
def test_describe_gives_compares_predictions_for_the_test_rows(smoke_run, tmp_path):
    copy, _, _ = smoke_run
    from descgen import config

    cfg = config.load("smoke", smoke_overrides(copy))
    test_split = copy / "outputs" / "data" / "test.jsonl"
    # the default output is compare's gated system; --write-only its fine-tune
    for name, write_only in (("gated", False), ("finetuned", True)):
        out = tmp_path / f"{name}.jsonl"
        describe.run(cfg, args_for(cfg, tmp_path, input=test_split, output=out, write_only=write_only))
        predictions = [json.loads(line) for line in (copy / "outputs" / "eval" / f"{name}_predictions.jsonl")
                       .read_text().splitlines()]
        rows = read_out(out)
        assert [r["uid"] for r in rows] == [p["uid"] for p in predictions]
        assert [r["description"] for r in rows] == [p["output"] for p in predictions], name
        assert [r["unsupported"] for r in rows] == [p["unsupported"] for p in predictions]
        if name == "finetuned":
            assert [r["stopped"] for r in rows] == [p["stopped"] for p in predictions]
            assert [r["neighbours"] for r in rows] == [[n["uid"] for n in p["neighbours"]] for p in predictions]
        else:
            assert [r["source"] for r in rows] == [p["source"] for p in predictions]
            assert [r.get("copied_uid") for r in rows] == [p["copied_uid"] for p in predictions]


@pytest.mark.e2e
def test_two_processes_write_what_one_writes(smoke_run, tmp_path):
    copy, _, _ = smoke_run
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    sample = copy / "dataset" / "sample" / "trn.json"
    outputs = {n: tmp_path / f"n{n}.jsonl" for n in (1, 2)}
    done = subprocess.run([sys.executable, "-m", "descgen.describe", "--profile", "smoke", "--input", str(sample),
                           "--missing-only", "--limit", "150", "--output", str(outputs[2]), "--num-processes", "2"],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from descgen import config

    cfg = config.load("smoke", smoke_overrides(copy))
    describe.run(cfg, args_for(cfg, tmp_path, input=sample, output=outputs[1], missing_only=True, limit=150))
    assert outputs[1].read_bytes() == outputs[2].read_bytes() and len(read_out(outputs[2])) == 150
    summary = json.loads(describe.summary_path(outputs[2]).read_text())
    assert summary["world_size"] == 2 and summary["rows_written"] == 150
