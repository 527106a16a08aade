"""Reading trn.json in bounded memory: blocks of whole lines, byte probes per block, the per-line loop (in C
where descgen/_c/_scan.c is built, else `_scan_python`, the reference: tests require both to give identical
results), the worker pool over byte ranges, and the merge of the workers' results into one funnel.

Memory stays bounded whatever the file size: a worker reads `data.read_block_bytes` at a time and keeps, per row
that survives the filters, only three 64-bit keys and two lengths (32 B × 1.5 M rows ≈ 48 MB), plus the few
thousand lowest-ranked rows themselves. The full file is never held.

Sampling does not depend on file order or size: a row's rank is hash(seed, uid); the candidates are the
lowest-ranked eligible rows. Duplicates keep their lowest-ranked copy, so a shuffled file gives the same rows.
"""

from __future__ import annotations

import gc
import gzip
import heapq
import itertools
import multiprocessing
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import xxhash

from .clean import clean_text, finish_content, title_key
from .config import DataParams
from .progress import Progress

C_SCAN_ABI = 1  # _scan.c's ABI: bump both when scan_block's arguments or results change


def _load_c_scan():
    """prepare's per-line loop in C (descgen/_c/_scan.c, built by `pip install -e .`), or None and why not."""
    try:
        from . import _scan
    except ImportError as error:  # no compiler at install time, or the checkout was never installed
        return None, str(error)
    if Path(_scan.__file__).parent != Path(__file__).parent:  # another checkout's editable install found it
        return None, f"the one found, {_scan.__file__}, belongs to another checkout"
    if getattr(_scan, "ABI", None) != C_SCAN_ABI:  # sources pulled, extension not rebuilt
        return None, f"it was built from older sources (ABI {getattr(_scan, 'ABI', None)}, need {C_SCAN_ABI})"
    return _scan, None


_c_scan, _C_SCAN_ERROR = _load_c_scan()

MALFORMED_REASONS = ("blank_line", "invalid_utf8", "invalid_json", "not_an_object", "bad_title", "bad_content")
DROP_REASONS = ("content_empty", "title_too_short", "content_too_short", "content_repeats_title",
                "duplicate_pair", "duplicate_title")
EXAMPLES_PER_REASON = 5  # offending line numbers kept per malformed reason
# EDA length histograms (characters): 25-char bins up to 2,000, then 500-char bins up to 10,000
FINE_STEP, FINE_END, COARSE_STEP, LENGTH_END = 25, 2000, 500, 10_000
LENGTH_BINS = np.concatenate([np.arange(0, FINE_END, FINE_STEP), np.arange(FINE_END, LENGTH_END + 1, COARSE_STEP)])


# ------------------------------------------------------------------------------------------ scanning
@dataclass
class ScanResult:
    """What one worker learned from its byte range of the file."""

    lines: int = 0
    malformed: Counter = field(default_factory=Counter)
    malformed_lines: dict = field(default_factory=dict)  # reason -> local line numbers (1-based)
    dropped: Counter = field(default_factory=Counter)   # the per-row filters; dedupe is decided at merge
    pair_keys: array = field(default_factory=lambda: array("Q"))
    title_keys: array = field(default_factory=lambda: array("Q"))
    ranks: array = field(default_factory=lambda: array("Q"))
    raw_title_len: array = field(default_factory=lambda: array("I"))
    raw_content_len: array = field(default_factory=lambda: array("I"))
    title_len: array = field(default_factory=lambda: array("I"))
    content_len: array = field(default_factory=lambda: array("I"))
    candidates: list = field(default_factory=list)  # heap of (-rank, row_index, uid, title, content)
    heap_full: bool = False
    part: str | None = None  # every survivor's (uid, title, content), in row order, when the scan was given a sink

    def skip(self, reason: str, lineno: int) -> None:
        self.malformed[reason] += 1
        seen = self.malformed_lines.setdefault(reason, [])
        if len(seen) < EXAMPLES_PER_REASON:
            seen.append(lineno)


def _open_blocks(path: Path, start: int, end: int | None, block_bytes: int):
    """Yield blocks of whole lines (bytes): the lines that *start* inside [start, end) of the file, about
    `block_bytes` at a time. A gzip file is read whole, as a stream."""
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
        if start > 0:
            fh.seek(start - 1)
            if fh.read(1) != b"\n":
                fh.readline()  # the line in progress belongs to the previous range
        position = fh.tell()
        while end is None or position < end:
            block = fh.read(block_bytes if end is None else min(block_bytes, end - position))
            if not block:
                return
            if block[-1] != 0x0A:
                block += fh.readline()  # finish the line in progress: it started inside the range, so it is ours
            position += len(block)
            if _SCANNED is not None:
                _SCANNED[_SLOT] = position - start  # this worker's bytes so far, for the progress line
            yield block


def _lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if not lines[-1]:
        lines.pop()  # the block's final newline ends a line; it does not start one
    return lines


def wide_space_offsets(u: np.ndarray) -> np.ndarray:
    r"""Offsets in a block (as uint8) of the Unicode spaces that reach a raw line unescaped, in UTF-8, beyond
    U+00A0 and U+0085 (c2 xx: the loop's lead-byte probe catches those): U+1680, U+2000-200A, U+2028, U+2029,
    U+202F, U+205F, U+3000. JSON escapes every control character, so \x0b \x0c \x1c-\x1f arrive as "\u00.."
    and the backslash probe catches them. One compare finds the lead bytes (~4 ms per 16 MiB; a bytes regex took
    90 ms); the few candidates are then checked exactly."""
    at = np.flatnonzero(u[:-2] >= 0xE1) if len(u) > 2 else np.zeros(0, np.int64)
    lead, b1, b2 = u[at], u[at + 1], u[at + 2]
    wide = (((lead == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))
            | ((lead == 0xE2) & (b1 == 0x80) & (((b2 >= 0x80) & (b2 <= 0x8A)) | (b2 == 0xA8) | (b2 == 0xA9) | (b2 == 0xAF)))
            | ((lead == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))
            | ((lead == 0xE3) & (b1 == 0x80) & (b2 == 0x80)))
    return at[wide]


def whitespace_run_lines(block: bytes, count: int) -> list[bool]:
    """Per line of the block: does it hold two spaces in a row, or a raw wide Unicode space (above)? Numpy
    passes over the whole block (pairs: two uint16 comparisons, at even and at odd offsets) replace substring
    searches per line, which CPython runs at ~1 byte/ns: ~11 ms per 16 MiB instead of 37 ms for the pairs alone."""
    n = len(block)
    u = np.frombuffer(block, np.uint8)
    hits = [wide_space_offsets(u)]
    if n >= 2:
        even = np.frombuffer(block, np.uint16, count=n // 2) == 0x2020
        odd = np.frombuffer(block, np.uint16, count=(n - 1) // 2, offset=1) == 0x2020
        # pair i covers bytes 2i, 2i+1 (even) or 2i+1, 2i+2 (odd): byte 2i+1 is a space of that line either way
        hits.append(np.flatnonzero(np.append(even[: len(odd)] | odd, even[len(odd):])) * 2 + 1)
    where = np.concatenate(hits)
    if not len(where):
        return [False] * count
    flags = np.zeros(count, bool)
    flags[np.searchsorted(np.flatnonzero(u == 0x0A), where)] = True
    return flags.tolist()


def _flagged_lines(path: Path, start: int, end: int | None, block_bytes: int):
    """Per block, an iterator of (raw line, holds two spaces in a row or a raw wide space); chained, it is
    walked at C speed."""
    for block in _open_blocks(path, start, end, block_bytes):
        lines = _lines(block)
        yield zip(lines, whitespace_run_lines(block, len(lines)))


def read_records(path: Path, block_bytes: int):
    """(line number, parsed object, or why the line is not one: blank_line / invalid_utf8 / invalid_json) for each
    line of a JSON Lines file, plain or .gz, `block_bytes` at a time: what describe reads a catalogue with, the same
    lines and the same failure reasons as prepare's scan."""
    line = 0
    for block in _open_blocks(path, 0, None, block_bytes):
        for raw in _lines(block):
            line += 1
            try:
                yield line, orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield line, json_failure_reason(raw)


def json_failure_reason(line: bytes) -> str:
    """Why orjson refused a line: blank, not UTF-8, or not JSON."""
    if not line.strip():
        return "blank_line"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    return "invalid_json"


def uid_fallback(uid, title: str, content: str) -> str:
    """A row's identity for the seeded rank when `uid` is not a string: its text, or the row itself."""
    return str(uid) if uid is not None else f"{title}\x00{content}"


def scanner_for(data: DataParams) -> str:
    """The per-line loop that runs: the C one (descgen._scan) where it is built, unless params say python."""
    if data.scanner == "python" or (data.scanner == "auto" and _c_scan is None):
        return "python"
    if _c_scan is None:
        raise RuntimeError(f"data.scanner: c, but descgen._scan is not usable ({_C_SCAN_ERROR}). Build it in this "
                           "checkout with `pip install -e .` (needs a C compiler), or set data.scanner: auto")
    return "c"


class SurvivorSink:
    """Every row that survives the per-row filters, (uid, title, content) in row order, streamed to an Arrow IPC file
    a block at a time: the catalogue is made from these files (prepare), so no row of a 2.25 M-line file is held in
    memory to build it. The uid is the one the rank was drawn from (uid_fallback for a missing one). The content is
    written finished (clean.finish_content: capped, cut back to its last whole sentence), with what finishing did as
    bits (`finish`): the scan's workers do it side by side, where one process took ~40 s of a full-size stage 1."""

    FLUSH_ROWS = 65_536

    def __init__(self, path: Path, data: DataParams):
        import pyarrow as pa

        self.path, self.data = Path(path), data
        self.schema = pa.schema([("uid", pa.string()), ("title", pa.string()), ("content", pa.string()),
                                 ("finish", pa.uint8())])
        self.sink = pa.OSFile(str(self.path), "wb")
        self.writer = pa.ipc.new_file(self.sink, self.schema)
        self.uids: list[str] = []
        self.titles: list[str] = []
        self.contents: list[str] = []

    def add(self, uid: str, title: str, content: str) -> None:
        self.uids.append(uid)
        self.titles.append(title)
        self.contents.append(content)
        if len(self.uids) >= self.FLUSH_ROWS:
            self.flush()

    def add_candidates(self, items: list) -> None:
        """Heap entries (-rank, row index, uid, title, content) in row order: the C loop's survivors."""
        for _, _, uid, title, content in items:
            self.add(uid, title, content)

    def flush(self) -> None:
        import pyarrow as pa

        if self.uids:
            data = self.data
            finished = [finish_content(c, data.max_content_chars, data.trim_to_sentence, data.min_content_chars)
                        for c in self.contents]
            contents, bits = zip(*finished)
            self.writer.write_batch(pa.record_batch([pa.array(self.uids, pa.string()), pa.array(self.titles, pa.string()),
                                                     pa.array(contents, pa.string()), pa.array(bits, pa.uint8())],
                                                    schema=self.schema))
            self.uids, self.titles, self.contents = [], [], []

    def close(self) -> str:
        self.flush()
        self.writer.close()
        self.sink.close()
        return str(self.path)


def scan(path: Path, data: DataParams, start: int = 0, end: int | None = None, keep: int = 0,
         sink: Path | None = None) -> ScanResult:
    """Parse, validate and clean every line in the range; keep the `keep` lowest-ranked survivors, and write every
    survivor to `sink` (an Arrow file) when given."""
    loop = _scan_c if scanner_for(data) == "c" else _scan_python
    # The loop makes no reference cycles, but its ~100k candidate tuples kept triggering full collections
    # that walk the heap each time (~2 % of the scan in perf).
    collecting = gc.isenabled()
    gc.disable()
    survivors = SurvivorSink(sink, data) if sink is not None else None
    try:
        out = loop(path, data, start, end, keep, survivors)
        if survivors is not None:
            out.part = survivors.close()
        return out
    finally:
        if collecting:
            gc.enable()


def _offer(out: ScanResult, keep: int, admit: int, items: list) -> int:
    """Offer heap entries (-rank, row index, uid, title, content), in row order, to the `keep`-row candidate
    heap; return the new admission bar (the largest rank held, once full). Until the heap is full every row
    gets in, so it is filled as a list and heapified once (O(n), not n pushes of O(log n))."""
    heap = out.candidates
    room = keep - len(heap)
    if room > 0:
        heap.extend(items[:room])
        items = items[room:]
        if len(heap) == keep:
            heapq.heapify(heap)
            admit = -heap[0][0]
    for item in items:
        if -item[0] < admit:
            heapq.heapreplace(heap, item)
            out.heap_full = True
            admit = -heap[0][0]
    return admit


def _scan_c(path: Path, data: DataParams, start: int, end: int | None, keep: int,
            sink: SurvivorSink | None = None) -> ScanResult:
    """The same loop as `_scan_python`, a block at a time in C (descgen/_c/_scan.c); only the rows whose rank
    is below the bar at the block's start come back as objects (every survivor, with a sink), and `_offer`
    re-checks the bar per row, so the heap ends as the Python loop's does."""
    out = ScanResult()
    helpers = (orjson.loads, orjson.JSONDecodeError, clean_text, title_key, json_failure_reason, uid_fallback)
    args = (data.seed, data.min_title_chars, data.min_content_chars, data.drop_title_echo, data.decode_html,
            data.strip_tags, helpers)
    admit = (1 << 64) if keep else 0
    survivors = 0
    for block in _open_blocks(path, start, end, data.read_block_bytes):
        asked = (1 << 64) if sink is not None else admit  # every survivor comes back for the sink
        (lines, malformed, drops, raw_tl, raw_cl, tl, cl, pair_keys, title_keys, ranks,
         candidates) = _c_scan.scan_block(block, min(asked, (1 << 64) - 1), asked >> 64, survivors, *args)
        if sink is not None:
            sink.add_candidates(candidates)
        for reason, lineno in malformed:
            out.skip(reason, out.lines + lineno)
        for reason, count in zip(DROP_REASONS[:4], drops):  # the per-row reasons, in _scan.c's order
            if count:
                out.dropped[reason] += count
        for column, chunk in ((out.raw_title_len, raw_tl), (out.raw_content_len, raw_cl), (out.title_len, tl),
                              (out.content_len, cl), (out.pair_keys, pair_keys), (out.title_keys, title_keys),
                              (out.ranks, ranks)):
            column.frombytes(chunk)
        admit = _offer(out, keep, admit, candidates)
        survivors += len(ranks) // 8
        out.lines += lines
    return out


def _scan_python(path: Path, data: DataParams, start: int = 0, end: int | None = None, keep: int = 0,
                 sink: SurvivorSink | None = None) -> ScanResult:
    """The reference loop, for where the C one is not built (and to check it against: tests/test_prepare.py): the
    lines of the byte range parsed and typed (`_described_records`), then each cleaned, filtered and keyed."""
    out = ScanResult()
    decode, strip = data.decode_html, data.strip_tags
    min_title, min_content, seed = data.min_title_chars, data.min_content_chars, data.seed
    # locals for the hot loop: 2.25 M iterations, every attribute lookup counts
    pair_keys, title_keys, ranks = out.pair_keys.append, out.title_keys.append, out.ranks.append
    tl, cl = out.title_len.append, out.content_len.append
    dropped = out.dropped
    hash64 = xxhash.xxh3_64_intdigest
    echo = data.drop_title_echo
    admit = (1 << 64) if keep else 0  # ranks below this enter the candidate heap
    survivors = 0
    for _, row, title, content, fold in _described_records(path, start, end, data.read_block_bytes, out):
        # Inlined fast paths below: most fields need no cleaning, and a Python call costs as much as the probes.
        if fold or "&" in title or "<" in title:
            title = clean_text(title, decode, strip, fold)
        else:
            title = title.strip()
        if len(title) < min_title:
            dropped["title_too_short"] += 1
            continue
        if fold or "&" in content or "<" in content:
            content = clean_text(content, decode, strip, fold)
        elif content[0] == " " or content[-1] == " ":
            content = content.strip()
        if len(content) < min_content:
            dropped["content_empty" if not content else "content_too_short"] += 1
            continue
        key = title_key(title)
        if echo and len(content) <= 2 * len(key) + 40 and title_key(content) == key:
            dropped["content_repeats_title"] += 1
            continue
        uid = row.get("uid")
        if type(uid) is not str:
            uid = uid_fallback(uid, title, content)
        rank = hash64(uid.encode(), seed)  # the row's place in the sample order, whatever the file order
        pair_keys(hash64(content.encode(), hash64(title.encode())))  # (title, content) without concatenating
        title_keys(hash64(key))
        ranks(rank)
        tl(len(title))
        cl(len(content))
        if sink is not None:
            sink.add(uid, title, content)
        if rank < admit:  # build the heap entry only for rows that get in (a few per thousand once full)
            admit = _offer(out, keep, admit, [(-rank, survivors, uid, title, content)])
        survivors += 1
    return out


def _described_records(path: Path, start: int, end: int | None, block_bytes: int, out: ScanResult):
    """(line number, record, title, content, fold) for each line of the range that is a JSON object with a string
    title and a non-empty string content; every other line is counted in `out` (malformed by reason, or dropped as
    content_empty), each line's raw lengths recorded, and `out.lines` set at the end. `fold`: the line may hold
    whitespace to fold (two spaces or a wide Unicode space, found per block; a JSON escape; a UTF-8 c2 a0 / c2 85 —
    one-byte probes are memchr, 0.3 µs a line, where two-byte ones cost 1.2-1.9 µs, so those two are probed by their
    lead byte; other c2xx characters (©, ®, °) merely take the exact path)."""
    loads = orjson.loads
    raw_tl, raw_cl = out.raw_title_len.append, out.raw_content_len.append
    dropped = out.dropped
    lineno = 0
    for line, spaces in itertools.chain.from_iterable(_flagged_lines(path, start, end, block_bytes)):
        lineno += 1
        try:
            row = loads(line)
        except orjson.JSONDecodeError:
            out.skip(json_failure_reason(line), lineno)
            continue
        if type(row) is not dict:
            out.skip("not_an_object", lineno)
            continue
        title, content = row.get("title"), row.get("content")
        if type(title) is not str:
            out.skip("bad_title", lineno)
            continue
        if type(content) is not str:
            out.skip("bad_content", lineno)
            continue
        raw_tl(len(title))
        raw_cl(len(content))
        # cheapest test first: a third of trn.json has empty content, and those rows need no cleaning at all
        if not content:
            dropped["content_empty"] += 1
            continue
        yield lineno, row, title, content, spaces or b"\\" in line or b"\xc2" in line
    out.lines = lineno


# Bytes scanned per worker, in memory shared with the forked workers: the parent prints "[prepare] 512/1,880 MiB"
# lines from it while they run (one slot each: no two processes write one counter).
_SCANNED = None
_SLOT = 0


def _scan_job(args):
    global _SLOT
    slot, path, data, start, end, keep, parts = args
    _SLOT = slot
    return scan(path, data, start, end, keep, None if parts is None else Path(parts) / f"part-{slot}.arrow")


def split_ranges(path: Path, workers: int) -> list[tuple[int, int | None]]:
    if path.suffix == ".gz" or workers <= 1:
        return [(0, None)]
    size = path.stat().st_size
    bounds = [size * i // workers for i in range(workers)] + [size]
    return [(bounds[i], bounds[i + 1]) for i in range(workers)]


def scan_file(path: Path, data: DataParams, keep: int, parts: Path | None = None) -> list[ScanResult]:
    """Every worker's ScanResult over its byte range; with `parts` (a folder), each also writes its survivors there
    (part-<worker>.arrow)."""
    global _SCANNED
    ranges = split_ranges(path, data.workers)
    jobs = [(slot, path, data, start, end, keep, parts) for slot, (start, end) in enumerate(ranges)]
    context = multiprocessing.get_context("fork")
    _SCANNED = context.Array("q", len(jobs), lock=False)
    # a .gz file's progress counts uncompressed bytes, whose total is unknown until the end
    total = None if path.suffix == ".gz" else path.stat().st_size
    meter = Progress("prepare: scanning", None if total is None else -(-total // 2**20), unit="MiB")
    try:
        if len(jobs) == 1:
            results = _run_watched(lambda: [_scan_job(jobs[0])], meter)
        else:
            with context.Pool(len(jobs)) as pool:
                pending = pool.map_async(_scan_job, jobs)
                results = _run_watched(lambda: pending.get(), meter, pending)
    finally:
        _SCANNED = None
    meter.close()
    return results


def _run_watched(work, meter: Progress, pending=None):
    """Run `work` (in a thread when it runs here; the pool's result otherwise) and update `meter` from the shared
    byte counters every half second until it is done."""
    import threading

    box: dict = {}
    if pending is None:
        def target():
            try:
                box["result"] = work()
            except BaseException as exc:  # re-raised below, in the caller's thread
                box["error"] = exc
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        done = lambda: not thread.is_alive()  # noqa: E731
    else:
        done = pending.ready
    while not done():
        time.sleep(0.5)
        mib = sum(_SCANNED) // 2**20
        meter.update(mib - meter.done, quiet=meter.total is not None and mib >= meter.total)
    if pending is not None:
        return work()
    if "error" in box:
        raise box["error"]
    return box["result"]


# ------------------------------------------------------------------------------------------ merging
@dataclass
class FileScan:
    """All ranges of one file merged: the funnel and the sample candidates in rank order."""

    report: dict
    candidates: list[dict]         # eligible rows, lowest rank first
    lengths: dict                  # EDA histograms
    may_have_more: bool            # a worker's candidate heap overflowed: more eligible rows exist
    # per survivor (all workers' rows in worker order, as the parts hold them): eligible after dedupe, rank, title key
    eligible: np.ndarray = None
    ranks: np.ndarray = None
    title_keys: np.ndarray = None
    parts: list = None             # the workers' survivor files (scan_file's `parts`), None without


def merge(results: list[ScanResult], data: DataParams) -> FileScan:
    lines = sum(r.lines for r in results)
    malformed = Counter()
    malformed_lines: dict[str, list[int]] = {}
    dropped = Counter()
    offset = 0
    for r in results:
        malformed.update(r.malformed)
        dropped.update(r.dropped)
        for reason, numbers in r.malformed_lines.items():
            seen = malformed_lines.setdefault(reason, [])
            seen.extend(n + offset for n in numbers[: EXAMPLES_PER_REASON - len(seen)])
        offset += r.lines

    pair_keys = np.concatenate([np.frombuffer(r.pair_keys, dtype=np.uint64) for r in results])
    title_keys = np.concatenate([np.frombuffer(r.title_keys, dtype=np.uint64) for r in results])
    ranks = np.concatenate([np.frombuffer(r.ranks, dtype=np.uint64) for r in results])
    row_base = np.cumsum([0] + [len(r.ranks) for r in results])

    # Dedupe, order-independent: within a key, the lowest rank survives.
    keep_pairs = _lowest_rank_per_key(pair_keys, ranks, np.ones(len(ranks), bool))
    dropped["duplicate_pair"] = int(len(ranks) - keep_pairs.sum())
    if data.dedupe_titles:
        keep = _lowest_rank_per_key(title_keys, ranks, keep_pairs)
        dropped["duplicate_title"] = int(keep_pairs.sum() - keep.sum())
    else:
        keep = keep_pairs
        dropped["duplicate_title"] = 0
    eligible = int(keep.sum())

    ranked = []
    for worker, r in enumerate(results):
        for neg_rank, index, uid, title, content in r.candidates:
            row = row_base[worker] + index
            if keep[row]:
                ranked.append((-neg_rank, uid, row, {"rank": -neg_rank, "uid": uid, "title": title, "content": content,
                                                     "row": int(row)}))
    ranked.sort(key=lambda item: item[:3])  # the row number settles a repeated uid: no order left to the heap
    candidates = [item[3] for item in ranked]

    report = {
        "lines_read": lines,
        "malformed": int(sum(malformed.values())),
        "malformed_by_reason": {k: int(malformed[k]) for k in MALFORMED_REASONS},
        "malformed_example_lines": malformed_lines,
        "dropped": {k: int(dropped[k]) for k in DROP_REASONS},
        "eligible": eligible,
    }
    assert report["malformed"] + sum(report["dropped"].values()) + eligible == lines, report  # the funnel conserves lines
    lengths = {
        "bins": LENGTH_BINS.tolist(),
        "raw_title": _histogram(results, "raw_title_len"),
        "raw_content": _histogram(results, "raw_content_len"),
        "clean_title": _histogram(results, "title_len", keep),
        "clean_content": _histogram(results, "content_len", keep),
    }
    return FileScan(report, candidates, lengths, any(r.heap_full for r in results), keep, ranks, title_keys,
                    [r.part for r in results] if all(r.part for r in results) else None)


def _lowest_rank_per_key(keys: np.ndarray, ranks: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Mask of the rows that hold the lowest (rank, row number) of their key, among the rows `among` allows.
    One unstable argsort groups the keys (0.07 s for 1.5 M rows, where a stable one or np.unique costs 0.16-0.23 s);
    the minimum inside each group is then found without relying on the sort's order of equal keys."""
    rows = np.flatnonzero(among)
    order = np.argsort(keys[rows])
    rows = rows[order]
    grouped = keys[rows]
    starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
    rank = ranks[rows]
    lowest = np.repeat(np.minimum.reduceat(rank, starts), np.diff(np.append(starts, len(rows))))
    # equal ranks within a key come only from a repeated uid: the earlier row wins
    first = np.minimum.reduceat(np.where(rank == lowest, rows, len(keys)), starts)
    keep = np.zeros(len(keys), bool)
    keep[first] = True
    return keep


def _histogram(results: list[ScanResult], name: str, mask: np.ndarray | None = None) -> list[int]:
    values = np.concatenate([np.frombuffer(getattr(r, name), dtype=np.uint32) for r in results]).astype(np.int64)
    if mask is not None:
        values = values[mask]
    # The bins are regular on each side of FINE_END, so the bin index is arithmetic, and a bincount
    # over 2.25 M lengths costs ~10 ms where np.histogram's binary search costs ~100 ms.
    fine = FINE_END // FINE_STEP
    index = np.where(values < FINE_END, values // FINE_STEP, fine + (values - FINE_END) // COARSE_STEP)
    return np.bincount(np.minimum(index, len(LENGTH_BINS) - 2), minlength=len(LENGTH_BINS) - 1).tolist()
