"""The whole catalogue at the dataset's real size, on a full-size stand-in of trn.json (bench/standin.py: 2,248,619
lines, Zipf titles, product families, a third empty), with the smoke profile's tiny model so the figures are the
pipeline's, not a model's. Prints each part's wall time and peak memory; docs/benchmarks.md records them.

    python bench/full_scale.py                      # every part (~40 min on 2 cores)
    python bench/full_scale.py --parts prepare tokenize
    python bench/full_scale.py --describe-rows 100000   # describe the first 100 k empty rows only

Parts (each in fresh processes; memory is the peak RSS of the part's whole process tree, and of its anonymous part,
sampled every 0.5 s):
- prepare:  `./run_all.sh --profile full --only prepare` (scan, catalogue, index, every split row's neighbours, EDA
            on a 50 k sample): goal <= 5 min and <= 8 GB.
- tokenize: the tokenized set of every training row (~1.3 M), built once as an Arrow file: goal <= 10 min and
            <= 3 GB per process.
- train:    20 optimizer steps with 2 processes (gloo), killed with -9 after the checkpoint at step 10, then resumed
            to step 20; per-process memory.
- describe: the gate fitted as compare fits it, then describe (gated, the default) over every row without a
            description (~740 k), and `--write-only` over the first --write-only-rows of them, max_new_tokens 4:
            rows/s, and the anonymous memory at the end (and its highest mark) against that after the first 10 k
            rows (goal: the end within 10 %; RSS is printed beside it, and adds the pages of the catalogue's Arrow
            file that describe has read, up to its 1.3 GB: page cache, not the process's own: `anonymous()`);
            peak <= 20 GB throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import standin  # noqa: E402

WORK = ROOT / "bench" / "data" / "full"
SETS = ["model.name=models/tiny-phi3", "model.build=tiny-phi3", "data.workers=2", "train.num_processes=1",
        "eval.num_processes=1", f"paths.outputs={WORK / 'outputs'}", f"paths.adapter_dir={WORK / 'adapter'}"]


def anonymous(info) -> int:
    """A process's anonymous resident memory (heap, tensors: what it owns and a leak would grow): RSS less its
    file-backed and shared pages (psutil's `shared`, /proc/PID/statm). The rest is mapped files, here mostly the
    catalogue's Arrow file (1.3 GB) read by row number: page cache, counted again in every process that maps it,
    reclaimed by the kernel under pressure, and bounded by the file's size."""
    return info.rss - getattr(info, "shared", 0)


def memory_infos(processes) -> list:
    """psutil's memory_info of each process still running (one may end between listing and reading)."""
    infos = []
    for p in processes:
        try:
            infos.append(p.memory_info())
        except psutil.Error:
            pass
    return infos


class Watch:
    """Peak RSS of a process tree (the sum over its processes, and the largest one) and of its anonymous part,
    sampled every half second."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak_total = self.peak_single = self.peak_anonymous = 0
        self.samples: list[tuple[float, int]] = []
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        while not self.done:
            try:
                infos = memory_infos([self.root] + self.root.children(recursive=True))
                sizes, owned = [i.rss for i in infos], sum(anonymous(i) for i in infos)
                total = sum(sizes)
                self.peak_total = max(self.peak_total, total)
                self.peak_anonymous = max(self.peak_anonymous, owned)
                self.peak_single = max(self.peak_single, max(sizes, default=0))
                self.samples.append((time.perf_counter() - start, total))
            except psutil.Error:
                pass
            time.sleep(0.5)

    def stop(self) -> dict:
        self.done = True
        self.thread.join()
        last = next((total for _, total in reversed(self.samples) if total), 0)  # the last sample while it ran
        return {"peak_tree_gb": round(self.peak_total / 2**30, 2), "peak_process_gb": round(self.peak_single / 2**30, 2),
                "peak_anonymous_gb": round(self.peak_anonymous / 2**30, 2), "last_tree_gb": round(last / 2**30, 3)}


def run(command: list[str], label: str, kill_when=None, env=None) -> dict:
    print(f"\n== {label}: {' '.join(command[:6])} ...", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, **(env or {})), start_new_session=True)
    watch = Watch(process.pid)
    killed = False
    while process.poll() is None:
        if kill_when is not None and not killed and kill_when():
            os.killpg(process.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.5)
    figures = watch.stop()
    figures.update(wall_s=round(time.perf_counter() - started, 1), exit=process.returncode, killed=killed)
    print(f"== {label}: {json.dumps(figures)}", flush=True)
    return figures


def cli(module: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", module, "--profile", "full", *[a for s in SETS for a in ("--set", s)], *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["prepare", "tokenize", "train", "describe"],
                        choices=["prepare", "tokenize", "train", "describe", "write_only"])
    parser.add_argument("--describe-rows", type=int, default=None, help="default: every row without a description")
    parser.add_argument("--write-only-rows", type=int, default=50_000, help="rows of the --write-only run (0: all)")
    args = parser.parse_args()
    source = standin.ensure()
    SETS.append(f"data.path={source}")
    results: dict[str, dict] = {}

    if "prepare" in args.parts:
        results["prepare"] = run(["./run_all.sh", "--profile", "full", "--only", "prepare",
                                  *[a for s in SETS for a in ("--set", s)]], "stage 1 (run_all --only prepare)")
        report = json.loads((WORK / "outputs" / "data" / "prepare_report.json").read_text())
        results["prepare"].update(phase_s=report["phase_s"], split_sizes=report["split_sizes"],
                                  catalogue=report["catalogue"], retrieval=report["retrieval"])

    if "tokenize" in args.parts:
        code = ("import sys; from descgen import config, train; "
                "cfg = config.load('full', sys.argv[1:]); print(train.tokenized(cfg, 'train')[1])")
        results["tokenize"] = run([sys.executable, "-c", code, *SETS], "tokenized training set")

    if "train" in args.parts:
        sets = ["train.num_processes=2", "train.max_steps=20", "train.eval_steps=10", "train.save_steps=10",
                "train.micro_batch_size=8", "train.grad_accum=1", "train.gradient_checkpointing=false"]
        command = cli("descgen.train", *[a for s in sets for a in ("--set", s)])
        checkpoints = WORK / "outputs" / "train"
        at_ten = lambda: any(checkpoints.glob("*/checkpoints/checkpoint-10/trainer_state.json"))  # noqa: E731
        results["train_killed"] = run(command, "20 steps, 2 processes, kill -9 after step 10", kill_when=at_ten)
        results["train_resumed"] = run(command, "the same command again: resumes")
        report = json.loads((WORK / "adapter" / "training_report.json").read_text())
        results["train_resumed"].update({k: report[k] for k in ("final_step", "resumed_from", "train_rows",
                                                                "world_size", "train_tokens_per_s")})

    if "describe" in args.parts:
        # the adapter's copy-or-write gate, fitted as compare fits it (catalogue labels + the fine-tune's validation
        # texts), without compare's 2,000 test generations; the tiny random model writes nothing worth keeping, so
        # this gate copies where a neighbour exists and the --write-only run below times the model's side
        code = ("import sys; from descgen import config, stages; from descgen.io import atomic_write_json; "
                "from descgen.predictor import Predictor; cfg = config.load('full', sys.argv[1:]); "
                "p = Predictor.load(cfg, adapter=True); g = p.fit_gate(stages.read_split(cfg, 'validation')); "
                "atomic_write_json(stages.path(cfg, 'gate'), g.to_json()); print({k: g.report[k] for k in "
                "('labelled_rows', 'right_share', 'cv_auc', 'cv_copied_share')})")
        results["gate"] = run([sys.executable, "-c", code, *SETS, "eval.max_new_tokens=4"], "the gate (Predictor.fit_gate)")
        describe(results, source, "describe", [], args.describe_rows, "describe every empty row (gated)")
    if "describe" in args.parts or "write_only" in args.parts:  # write_only alone: the gate above is not needed
        describe(results, source, "describe_write_only", ["--write-only"], args.write_only_rows,
                 "describe with the model on every row (--write-only)")

    print("\n" + json.dumps(results, indent=1))


def describe(results: dict, source: Path, name: str, flags: list[str], limit: int | None, title: str) -> None:
    """One describe run over the stand-in's rows without a description: rows/s, and the process tree's memory after
    the first 10 k rows against its peak and its end."""
    out = WORK / f"{name}.jsonl"
    for leftover in (out, out.with_name(out.name + ".progress.json")):
        leftover.unlink(missing_ok=True)
    extra = ["--input", str(source), "--missing-only", "--output", str(out), "--set", "eval.max_new_tokens=4",
             "--set", "describe.chunk_rows=2048", *flags]
    if limit:
        extra += ["--limit", str(limit)]
    progress = out.with_name(out.name + ".progress.json")
    marks: dict[str, float] = {}

    series: dict[int, tuple[float, float]] = {}  # rows written -> (RSS, anonymous) of the tree, GiB

    def record_memory() -> bool:  # never kills: the tree's memory once 10 k rows are written, and every 25 k rows after
        if progress.exists():
            try:
                written = json.loads(progress.read_text())["rows_written"]
            except (ValueError, KeyError):
                return False
            if written >= 10_000 and "rss_at_10k_gb" not in marks:
                marks["rss_at_10k_gb"], marks["anonymous_at_10k_gb"] = current_tree_gb()
            mark = written // 25_000 * 25_000
            if mark and mark not in series:
                series[mark] = current_tree_gb()
        return False

    results[name] = run(cli("descgen.describe", *extra), title, kill_when=record_memory)
    if results[name]["exit"] != 0:
        return
    summary = json.loads(out.with_name(f"{name}.summary.json").read_text())
    marks["rss_by_rows_gb"] = {rows: rss for rows, (rss, _) in series.items()}
    marks["anonymous_by_rows_gb"] = {rows: owned for rows, (_, owned) in series.items()}
    running = {rows: figures for rows, figures in series.items() if rows < summary["rows_written"]}
    if running and "anonymous_at_10k_gb" in marks:  # the goal: the end within 10 % of the 10 k rows mark. The end is
        # the last mark while rows were still being written (at the last row the process is already winding down);
        # the highest mark beside it (a mark can fall while a batch is in flight)
        at_10k = marks["anonymous_at_10k_gb"]
        marks["anonymous_growth_at_end"] = round(running[max(running)][1] / at_10k - 1, 3)
        marks["anonymous_growth_highest"] = round(max(owned for _, owned in running.values()) / at_10k - 1, 3)
    results[name].update(marks, **{k: summary.get(k) for k in ("rows_written", "copied", "written_by_the_model",
                                                               "rows_per_s", "skipped")})


def current_tree_gb() -> tuple[float, float]:
    """RSS of this benchmark's running child tree (the describe process) and its anonymous part, in GiB."""
    infos = memory_infos(psutil.Process().children(recursive=True))
    return round(sum(i.rss for i in infos) / 2**30, 3), round(sum(anonymous(i) for i in infos) / 2**30, 3)


if __name__ == "__main__":
    main()
