"""The web page under load: N people at once, nothing lost, answers unchanged.

    python bench/app_load.py --profile smoke --clients 16 --requests 200
    python bench/app_load.py --profile cpu --clients 4 --requests 100 --max-queue 32

Starts `python -m descgen.app` on a free port of 127.0.0.1 (never another address), answers every distinct title once,
one at a time, with Gradio's own client (`gradio_client`), then sends `--requests` requests from `--clients` concurrent
clients: titles drawn (seeded) from the test split, plus bad inputs (an empty title, control bytes, 12,000
characters). Prints one JSON line:

    sent, answered (a text or the page's message for bad input), refused (a clear message: the queue was full),
    lost (no answer and no message: an exception, a timeout), p50 / p95 latency of the answered, the app's RSS at the
    start, after the first 50 answers and at the end (and the growth from the 50 to the end), and `differ`: answers
    that are not what the same title got alone.

Exits 1 when anything is lost or an answer differs, and stops the app either way. Bounded: at most --requests
requests, each waited for at most --timeout seconds, the whole run at most --deadline seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # the only address this script serves on or talks to
BAD_INPUTS = ["", "\x00\x01\x02\x03\x04\x05\x06\x07 junk", "Ballet Tutu " * 1000]  # the last: 12,000 characters
EARLY = 50  # answers after which the app's memory is the level the end is held to


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of the app process (its children included: Gradio starts none here)."""
    total = 0
    for proc in [pid] + children(pid):
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found] + [g for c in found for g in children(int(c))]


def start_app(profile: str, overrides: list[str], port: int, max_queue: int, wait_s: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "descgen.app", "--profile", profile, "--host", HOST, "--port", str(port),
               "--max-queue", str(max_queue)]
    for item in overrides:
        command += ["--set", item]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    app = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"the app exited with {app.returncode}: {app.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=1)
            return app
        except OSError:
            time.sleep(0.5)
    stop(app)
    raise SystemExit(f"the app did not answer on {HOST}:{port} within {wait_s:.0f} s")


def stop(app: subprocess.Popen) -> None:
    if app.poll() is None:
        os.killpg(app.pid, signal.SIGTERM)
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()


def answer_of(result) -> tuple:
    """What a person sees for a request: the message, the answer and where it came from."""
    message, answer, source = result[0], result[1], result[2]
    return message, answer, source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--titles", type=int, default=20, help="distinct test titles the requests draw from")
    parser.add_argument("--max-queue", type=int, default=None, help="the app's queue limit (default: its own)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a request may wait for its answer")
    parser.add_argument("--deadline", type=float, default=3600.0, help="seconds the whole run may take")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from gradio_client import Client

    from descgen import config, stages

    cfg = config.load(args.profile, args.overrides)
    max_queue = args.max_queue if args.max_queue is not None else cfg.demo.max_queue
    rng = random.Random(args.seed)
    test = [r["title"] for r in stages.read_split(cfg, "test")]
    titles = rng.sample(test, min(args.titles, len(test))) + BAD_INPUTS
    requests = [titles[i % len(titles)] for i in range(len(titles))]  # every title at least once
    requests += [rng.choice(titles) for _ in range(args.requests - len(requests))]
    requests = requests[:args.requests]
    rng.shuffle(requests)

    port = free_port()
    app = start_app(args.profile, args.overrides, port, max_queue, wait_s=600)
    started = time.time()
    try:
        rss_start = rss_bytes(app.pid)
        url = f"http://{HOST}:{port}/"
        alone_client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        alone = {t: answer_of(alone_client.predict(t, api_name="/describe")) for t in dict.fromkeys(requests)}
        rss_alone = rss_bytes(app.pid)

        counts = {"answered": 0, "refused": 0, "lost": 0, "differ": 0}
        latencies, errors, marks = [], [], {}
        lock = threading.Lock()
        clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(args.clients)]

        def send(i: int, title: str) -> None:
            if time.time() - started > args.deadline:
                with lock:
                    counts["lost"] += 1
                    errors.append("deadline passed before it was sent")
                return
            tick = time.perf_counter()
            try:
                job = clients[i % len(clients)].submit(title, api_name="/describe")
                result = job.result(timeout=args.timeout)
            except Exception as exc:  # noqa: BLE001 - every failure is counted, by what the person saw
                text = f"{type(exc).__name__}: {exc}"
                with lock:
                    counts["refused" if "queue is full" in text.lower() else "lost"] += 1
                    errors.append(text[:300])
                return
            with lock:
                counts["answered"] += 1
                latencies.append(time.perf_counter() - tick)
                if answer_of(result) != alone[title]:
                    counts["differ"] += 1
                    errors.append(f"differs for {title[:60]!r}")
                if counts["answered"] == EARLY:
                    marks["after_50"] = rss_bytes(app.pid)

        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            for _ in pool.map(lambda item: send(*item), enumerate(requests)):
                pass
        rss_end = rss_bytes(app.pid)
    finally:
        stop(app)
    lat = sorted(latencies)

    def pct(q: float):
        return round(lat[min(int(q * len(lat)), len(lat) - 1)], 3) if lat else None

    early = marks.get("after_50")
    out = {"profile": args.profile, "clients": args.clients, "max_queue": max_queue, "sent": len(requests), **counts,
           "p50_s": pct(0.5), "p95_s": pct(0.95), "distinct_titles": len(alone),
           "rss_start_mb": round(rss_start / 2**20, 1), "rss_after_alone_mb": round(rss_alone / 2**20, 1),
           "rss_after_50_mb": round(early / 2**20, 1) if early else None, "rss_end_mb": round(rss_end / 2**20, 1),
           "rss_growth_after_50": round(rss_end / early - 1, 4) if early else None,
           "wall_s": round(time.time() - started, 1), "errors": sorted(set(errors))[:5]}
    print(json.dumps(out))
    return 1 if counts["lost"] or counts["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())
