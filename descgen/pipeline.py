"""The runner behind ./run_all.sh: manifests, staleness, papermill, the command line.

Each stage (the table in `stages`) is a notebook executed with papermill. On success the runner writes
`outputs/manifests/<stage>.json`: the hash of the params the stage uses, fingerprints of its input files and
of its upstream stages' outputs, its own outputs' fingerprints, versions, git commit, times, peak memory.
A stage whose manifest still matches is skipped ("up to date"); a changed param or input reruns it and,
through the output fingerprints, everything downstream. The manifest is written last: a stage killed half-way
has none and is redone.

    ./run_all.sh [--profile NAME] [--set section.key=value ...] [--from STAGE | --only STAGE] [--force]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import xxhash

from . import progress
from .config import REPO_ROOT, Config, ConfigError, load, missing_data_message
from .io import atomic_write_json, atomic_write_text, hash_into, read_json
from .stages import BY_NAME, STAGE_NAMES, STAGES, Stage, code_files

MANIFEST_VERSION = 3  # 2: upstream digests cover only handoff outputs; train's key has no data section; 3: the dtype


# ------------------------------------------------------------------------------------------ fingerprints
def fingerprint(path: Path) -> dict:
    """Size + xxh3-128 of the content."""
    path = Path(path)
    if not path.exists():
        return {"path": str(path), "missing": True}
    stat = path.stat()
    return {"path": _rel(path), "size": stat.st_size, "xxh3_128": _content_hash(str(path), stat.st_size, stat.st_mtime_ns)}


@functools.lru_cache(maxsize=256)
def _content_hash(path: str, size: int, mtime_ns: int) -> str:
    # Reading the 1.9 GB trn.json costs ~0.8 s; the staleness check and the manifest written after the stage
    # both need it, so one run_all hashes an unchanged file once (a rewrite changes size or mtime).
    return hash_into(xxhash.xxh3_128(), Path(path)).hexdigest()


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def code_digests(stage: Stage) -> dict[str, str]:
    """xxh3 of each file whose code makes the stage's results: recorded in its manifest, compared on later runs."""
    return {_rel(f): hash_into(xxhash.xxh3_64(), f).hexdigest() for f in code_files(stage) if f.exists()}


def code_changed(cfg: Config, stage: Stage) -> list[str]:
    """The stage's code files that differ from when its outputs were made (none known for older manifests)."""
    recorded = read_json(manifest_path(cfg, stage.name)).get("code", {})
    return sorted(path for path, digest in code_digests(stage).items() if recorded and recorded.get(path) != digest)


def manifest_path(cfg: Config, stage: str) -> Path:
    return cfg.manifests_dir / f"{stage}.json"


def executed_notebook(cfg: Config, stage: Stage) -> Path:
    return cfg.outputs_dir / "notebooks" / stage.notebook


def outputs_digest(cfg: Config, stage: Stage, manifest: dict) -> str:
    """What a downstream key sees of `stage`: the fingerprints of the outputs it hands on."""
    handed = {_rel(p) for p in stage.handoff(cfg)}
    outputs = [o for o in manifest["outputs"] if o["path"] in handed]
    return xxhash.xxh3_64_hexdigest(json.dumps(outputs, sort_keys=True).encode())


def stage_key(cfg: Config, stage: Stage) -> dict:
    """Everything a stage's result depends on. Equal keys => the stage need not run again."""
    upstream = {}
    for name in stage.upstream:
        path = manifest_path(cfg, name)
        upstream[name] = outputs_digest(cfg, BY_NAME[name], read_json(path)) if path.exists() else None
    key = {
        "stage": stage.name,
        "params_hash": stage.params_hash(cfg),
        "inputs": [fingerprint(p) for p in stage.inputs(cfg)],
        "upstream": upstream,
        "version": MANIFEST_VERSION,
    }
    if stage.uses_model:
        from .modeling import dtype_name

        key["compute_dtype"] = dtype_name(cfg)  # model.dtype: auto, as this machine resolves it
    return key


def why_stale(cfg: Config, stage: Stage) -> str | None:
    """None when the stage is up to date, else a short reason."""
    path = manifest_path(cfg, stage.name)
    if not path.exists():
        return "never completed"
    manifest = read_json(path)
    key = stage_key(cfg, stage)
    if manifest.get("version") != key["version"]:
        return "manifest format changed"
    if manifest.get("params_hash") != key["params_hash"]:
        return f"params changed ({', '.join(stage.params)})"
    if manifest.get("compute_dtype") != key.get("compute_dtype"):
        return f"compute dtype changed ({manifest.get('compute_dtype')} there, {key.get('compute_dtype')} here)"
    if manifest.get("inputs") != key["inputs"]:
        return "input files changed"
    if manifest.get("upstream") != key["upstream"]:
        return "upstream outputs changed"
    for recorded in manifest["outputs"]:
        now = fingerprint(REPO_ROOT / recorded["path"] if not Path(recorded["path"]).is_absolute()
                          else Path(recorded["path"]))
        if now != recorded:
            return f"output {recorded['path']} missing or changed"
    if not executed_notebook(cfg, stage).exists():
        return "executed notebook missing"
    return None


def write_manifest(cfg: Config, stage: Stage, started: float, ended: float, peak_rss: int) -> dict:
    manifest = stage_key(cfg, stage)
    manifest.update({
        "params": {key: _pick(cfg.raw, key) for key in stage.params},
        "outputs": [fingerprint(p) for p in stage.outputs(cfg)],
        "code": code_digests(stage),
        "profile": cfg.profile,
        "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(),
        "ended": dt.datetime.fromtimestamp(ended, dt.timezone.utc).isoformat(),
        "wall_s": round(ended - started, 3),
        "peak_rss_bytes": peak_rss,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": package_versions(),
    })
    missing = [o["path"] for o in manifest["outputs"] if o.get("missing")]
    if missing:
        raise RuntimeError(f"stage {stage.name} finished but did not write {', '.join(missing)}")
    atomic_write_json(manifest_path(cfg, stage.name), manifest)
    return manifest


def _pick(raw: dict, key: str):
    section, _, sub = key.partition(".")
    return raw[section][sub] if sub else raw[section]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ("torch", "transformers", "peft", "accelerate", "datasets", "bitsandbytes", "papermill", "rouge-score")
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# ------------------------------------------------------------------------------------------ running
def execute(cfg: Config, stage: Stage, profile: str, overrides: list[str]) -> tuple[int, int]:
    """papermill the stage's notebook in a child process; (exit code, peak RSS of the process tree)."""
    out = executed_notebook(cfg, stage)
    out.parent.mkdir(parents=True, exist_ok=True)
    parameters = json.dumps({"profile": profile, "overrides": list(overrides)})
    # The kernel's stdout (the stages' progress lines, descgen/progress.py) goes to <notebook>.log as it is printed,
    # which this process echoes to the terminal while the cell runs: a cell that trains for an hour is watched, not
    # waited on. papermill's own per-cell bar is off (it would only say "cell 6 of 10").
    log = out.with_suffix(".log")
    command = [sys.executable, "-c", "import sys; from descgen.pipeline import papermill_child; papermill_child(*sys.argv[1:])",
               str(REPO_ROOT / "notebooks" / stage.notebook), str(out), parameters, str(log)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
               **{progress.LINES_ENV: "lines"})
    log.unlink(missing_ok=True)
    process = subprocess.Popen(command, env=env)
    echo = LogEcho(log, prefix=f"  {stage.name} | ")
    try:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            echo.poll()
            if pid:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        process.terminate()
        raise
    echo.poll(final=True)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024  # Linux: KiB, the child and every child it waited for


def skip_iri_checker() -> None:
    """Before importing nbformat or papermill: nbformat imports jsonschema, whose optional "iri" format checker imports
    rfc3987_syntax, which builds a grammar at import: 0.9-3.4 s per process, and a run makes six (the runner and
    one papermill child per stage), for a check nbformat never asks for (it passes no format checker; the notebook
    schema has no "iri" field). jsonschema leaves the checker out when that import fails (`suppress(ImportError)` in
    jsonschema/_format.py); a process that imported it already keeps it."""
    sys.modules.setdefault("rfc3987_syntax", None)


def papermill_child(notebook: str, out: str, parameters: str, log: str) -> None:
    """The child process `execute` starts: papermill runs the notebook in a fresh kernel, the kernel's stdout copied
    to `log` as it comes. The kernel talks to papermill over IPC sockets (files in Jupyter's runtime folder), not
    TCP: over TCP without CurveZMQ keys ipykernel warns, once per stage, that anyone on the machine could listen in."""
    import logging

    skip_iri_checker()
    import papermill
    from jupyter_client import AsyncKernelManager
    from papermill.exceptions import PapermillExecutionError
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

    logging.getLogger("papermill").setLevel(logging.WARNING)
    with open(log, "w", encoding="utf-8") as stdout:
        try:
            papermill.execute_notebook(notebook, out, parameters=json.loads(parameters), cwd=str(Path(notebook).parent),
                                       kernel_name="python3", progress_bar=False, stdout_file=stdout,
                                       kernel_manager_class=IPCKernelManager)
        except PapermillExecutionError:
            sys.exit(1)  # the failing cell is in `out`; the runner names it (first_error)


class LogEcho:
    """Echo the whole lines appended to a file since the last poll (a line still being written waits)."""

    def __init__(self, path: Path, prefix: str = ""):
        self.path, self.prefix, self.offset, self.partial = path, prefix, 0, b""

    def poll(self, final: bool = False) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = b"" if final else lines.pop()
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                print(self.prefix + text, flush=True)


def to_html(notebook: Path) -> Path:
    skip_iri_checker()
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    target = notebook.with_suffix(".html")
    atomic_write_text(target, body)
    return target


def first_error(notebook: Path) -> str:
    """'cell N: ErrorName: message' for the first failing cell of an executed notebook."""
    try:
        skip_iri_checker()
        import nbformat

        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # the notebook may not exist if the kernel never started
        return "the notebook did not start (see the output above)"
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index} ({_first_line(cell.source)!r}): {output['ename']}: {output['evalue']}"
    return "no error cell recorded (the kernel may have died: out of memory?)"


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
    return (lines[0] if lines else "")[:70]


def select(only: str | None, start: str | None) -> list[Stage]:
    if only:
        return [BY_NAME[only]]
    first = STAGE_NAMES.index(start) if start else 0
    return list(STAGES[first:])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_all.sh", description="Run the pipeline's notebooks with papermill.")
    parser.add_argument("--profile", default="default", help="a profile from params.yaml (default, smoke, cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--from", dest="start", choices=STAGE_NAMES, help="rerun this stage and the ones after it")
    group.add_argument("--only", choices=STAGE_NAMES, help="rerun just this stage")
    parser.add_argument("--force", action="store_true", help="rerun every selected stage even if up to date")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load(args.profile, args.overrides)
    except ConfigError as exc:
        print(f"run_all: params error: {exc}", file=sys.stderr)
        return 2
    stages = select(args.only, args.start)
    forced = args.force or bool(args.only or args.start)
    if any(s.name == "prepare" for s in stages) and (message := missing_data_message(cfg)):
        print(f"run_all: {message}", file=sys.stderr)
        return 2
    # --from / --only trust the stages before them: refuse if one is out of date for these params (say, its
    # outputs came from another profile), instead of feeding its stale artifacts to the stages that run.
    for upstream in STAGES[:STAGE_NAMES.index(stages[0].name)]:
        if (reason := why_stale(cfg, upstream)) is not None:
            print(f"run_all: stage '{upstream.name}' comes before '{stages[0].name}' and is out of date for this "
                  f"profile and params ({reason}): run `./run_all.sh --from {upstream.name}` with the same "
                  f"--profile/--set, or without --from/--only", file=sys.stderr)
            return 2
    if cfg.model.build:
        from .local_models import ensure_for

        ensure_for(cfg)

    timings: list[tuple[str, str, float]] = []
    total_started = time.time()
    for number, stage in enumerate(stages, 1):
        tag = f"[{number}/{len(stages)}] {stage.name}"
        reason = "forced" if forced else why_stale(cfg, stage)
        if reason is None:
            changed = code_changed(cfg, stage)
            note = f" (code changed since it ran: {', '.join(changed)}; --from {stage.name} reruns it)" if changed else ""
            print(f"{tag}: up to date{note}", flush=True)
            timings.append((stage.name, "up to date", 0.0))
            continue
        print(f"{tag}: running notebooks/{stage.notebook} ({reason})", flush=True)
        manifest_path(cfg, stage.name).unlink(missing_ok=True)  # no stale manifest while the stage runs
        started = time.time()
        code, peak = execute(cfg, stage, args.profile, args.overrides)
        ended = time.time()
        notebook = executed_notebook(cfg, stage)
        if notebook.exists():
            to_html(notebook)
        if code != 0:
            print(f"\nrun_all: stage '{stage.name}' failed after {ended - started:.0f} s at {first_error(notebook)}\n"
                  f"  open {_rel(notebook)} (or {_rel(notebook.with_suffix('.html'))}) to see the failing cell",
                  file=sys.stderr)
            return 1
        write_manifest(cfg, stage, started, ended, peak)
        timings.append((stage.name, "ran", ended - started))
        print(f"{tag}: done in {ended - started:.1f} s -> {_rel(notebook)}", flush=True)

    print("\nstage      status        wall")
    for name, status, seconds in timings:
        print(f"{name:<10} {status:<12} {seconds:7.1f} s")
    print(f"{'total':<10} {'':<12} {time.time() - total_started:7.1f} s")
    print(headline(cfg))
    return 0


def headline(cfg: Config) -> str:
    """The run's result in a few lines (ROUGE-L per system with its CI against the baseline beside its wrong-product,
    wrong-fact, whole-sentence and stop rates; the gate's precision and recall) and where its notebooks, curves and
    adapter are."""
    from .stages import path

    lines = [""]
    report_path = path(cfg, "compare_report")
    report = read_json(report_path) if report_path.exists() else {}
    if {"n", "models", "vs_baseline", "verdict"} <= set(report):
        lines.append(f"On {report['n']} test rows: ROUGE-L (95% CI of the difference from the baseline), and what a shop "
                     "cannot publish, judged by the true descriptions (number: a plain judge of numbers):")
        lines.append(f"  {'system':<13} {'ROUGE-L':<7}  {'vs baseline':<28} {'wrong product':>13} {'wrong fact':>10}"
                     f" {'number':>6} {'whole':>6} {'stop':>5}")
        for name, metrics in report["models"].items():
            ci = report["vs_baseline"].get(name, {}).get("rougeL")
            delta = f"{ci['mean']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]" if ci else ""
            stop = f"{metrics['stop_rate']:.0%}" if "stop_rate" in metrics else ""
            number = metrics.get("unstated_number_rate_plain")  # the plain judge, apart from facts.py
            rates = (f"{metrics.get('wrong_product_rate', 0):>13.1%} {metrics.get('wrong_fact_rate', 0):>10.1%}"
                     f" {'' if number is None else f'{number:.0%}':>6} {metrics.get('whole_sentence_rate', 0):>6.0%}")
            lines.append(f"  {name:<13} {metrics['rougeL']:.4f}   {delta:<28} {rates} {stop:>5}")
        lines.append(f"  verdict: {', '.join(f'{k} {v}' for k, v in report['verdict'].items())}")
        gate = report.get("gate") or {}
        if gate.get("test"):
            found = gate["test"]
            lines.append("  the gate's copies: " + ", ".join(
                f"{key} {found[key]['value']:.2f} [{found[key]['ci_low']:.2f}, {found[key]['ci_high']:.2f}]"
                for key in ("precision", "recall") if found[key]["value"] is not None)
                + f" (promised precision {gate['min_precision']:.0%}; {gate['copied_test_rows']} of "
                f"{gate['test_rows']} rows copied)")
        best = report.get("best")
        if best:
            ci = best.get("vs_retrieval")
            floor = f", vs the floor {ci['mean']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]" if ci else ""
            lines.append(f"  best system keeping the precision promise: {best['name']} {best['rougeL']:.4f}{floor}, "
                         f"wrong products {best.get('wrong_product_rate') or 0:.1%}, wrong facts "
                         f"{best.get('wrong_fact_rate') or 0:.1%} (what describe and the app write)")
    lines += [f"executed notebooks: {_rel(cfg.outputs_dir / 'notebooks')}/ (+ .html, .log)",
              f"curves: tensorboard --logdir {_rel(cfg.outputs_dir / 'tensorboard')}",
              f"adapter + model card: {_rel(cfg.adapter_dir)}/"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
