"""Several processes, one job: the launch (accelerate, torch.distributed underneath) and what a process needs to
know inside it (its rank, the world, gathering results in order).

`accelerate launch --multi_gpu --num_processes N -m descgen.<module> ...` starts N copies through torchrun, which
sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; without a GPU the copies talk over gloo (so the
path runs and is tested on a CPU), with GPUs over NCCL, one GPU per process (LOCAL_RANK picks it). Several machines:
the same command on each with --num_machines M --machine_rank R --main_process_ip HOST (README).

Generation is split by *batch*, not by row: batch b of the one-process order goes to rank b % N, so every row is
generated in exactly the batch (same rows, same padding) it would be in alone, and the gathered predictions equal
one process's, token for token.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import torch


def world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment; (0, 1) in a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return world()[0] == 0


def launched() -> bool:
    """Are we one of several processes a launcher started?"""
    return world()[1] > 1


def init() -> None:
    """Join the process group (once): NCCL with one GPU per process, else gloo."""
    import torch.distributed as dist

    if not launched() or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def barrier() -> None:
    if launched():
        import torch.distributed as dist

        init()
        dist.barrier()


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank."""
    if not launched():
        return value
    import torch.distributed as dist

    init()
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_in_order(partial: list) -> list:
    """Each rank holds its own items of one list (None elsewhere); every rank gets the whole list back."""
    if not launched():
        return partial
    import torch.distributed as dist

    init()
    parts: list[list] = [None] * world()[1]  # type: ignore[list-item]
    dist.all_gather_object(parts, partial)
    whole = [next((p[i] for p in parts if p[i] is not None), None) for i in range(len(partial))]
    missing = [i for i, item in enumerate(whole) if item is None]
    if missing:
        raise RuntimeError(f"no process produced items {missing[:5]} of {len(whole)}")
    return whole


def gather_objects(value: Any) -> list:
    """Every rank's `value`, in rank order, on every rank ([value] in a plain process)."""
    if not launched():
        return [value]
    import torch.distributed as dist

    init()
    parts: list = [None] * world()[1]
    dist.all_gather_object(parts, value)
    return parts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(module: str, args: list[str], num_processes: int) -> list[str]:
    """`accelerate launch` of `python -m module args` on this machine with `num_processes` processes. A multi-node
    run is started by hand on every node instead (README: the same params, --machine_rank per node)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            # a free port: two launches on one machine (a notebook and a test) must not collide on 29500
            "--main_process_port", str(free_port()), "-m", module, *args]


def launch(module: str, args: list[str], num_processes: int) -> None:
    """Run `module` under `num_processes` processes as a child, echoing its output line by line (the notebook and
    the terminal see the progress), and wait. A failure raises with the child's exit status and last lines."""
    command = launch_command(module, args, num_processes)
    shown = [a for a in command[2:] if not a.startswith("--set")]
    sets = sum(a == "--set" for a in command)
    print(f"launching {num_processes} processes: {' '.join(a for a in shown if '=' not in a)}"
          + (f" (+ {sets} --set: this config, key by key)" if sets else ""), flush=True)
    tail: list[str] = []
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                          env=child_env) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            tail = (tail + [line.rstrip()])[-20:]
        status = process.wait()
    if status != 0:
        raise RuntimeError(f"{module} under {num_processes} processes failed (exit status {status}):\n"
                           + "\n".join(tail))


def shard_batches(n_batches: int) -> list[int]:
    """The batch numbers this rank generates: b % world == rank."""
    rank, size = world()
    return [b for b in range(n_batches) if b % size == rank]


def across_processes(module: str, section: str, read_back):
    """Decorates a stage's `run(cfg)`: where cfg.<section>.num_processes is above 1 and this process was not
    launched by accelerate, run the stage's command (`python -m <module>`) in that many processes and return
    `read_back(cfg)`, what process 0 wrote; else run here (in each launched process, or alone)."""
    import functools

    def decorate(run):
        @functools.wraps(run)
        def spread(cfg, *args, **kwargs):
            processes = getattr(cfg, section).num_processes
            if processes > 1 and not launched():
                relaunch(cfg, module, processes)
                return read_back(cfg)
            return run(cfg, *args, **kwargs)
        return spread
    return decorate


def relaunch(cfg, module: str, num_processes: int) -> None:
    """Run a stage's command (`python -m <module>`) with exactly `cfg` under `num_processes` processes and wait:
    what a notebook cell does when train.num_processes or eval.num_processes is above 1."""
    from . import config, local_models

    local_models.ensure_for(cfg)
    launch(module, ["--profile", cfg.profile, *config.as_overrides(cfg)], num_processes)
