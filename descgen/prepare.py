"""Stage 1: stream trn.json, clean, count every line, draw a seeded sample, write leak-free splits.

The reading, cleaning and counting live in `scan` (blocks, the C and Python per-line loops, the merge) and
`clean` (text rules); this module turns the merged candidates into the three splits and the report, and holds
the notebook's tables and plots.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from . import retrieval, sentences, stages
from .clean import CAPPED, DROPPED, STOPPED, TRIMMED, Finished, finish_content, title_key
from .config import Config, DataParams, missing_data_message
from .io import atomic_write_json, atomic_write_jsonl
from .scan import merge, scan_file, scanner_for

# ------------------------------------------------------------------------------------------ the stage
ALL_ROWS = -1        # data.n_train: -1 = every eligible row not held out for validation and test
EDA_ROWS = 50_000    # 01_prepare's word clouds, token lengths and coverage table read this many training rows at most
BATCH_ROWS = 65_536  # catalogue rows per Arrow batch: ~70 MB of text at trn.json's lengths


@dataclass
class PrepareResult:
    report: dict
    splits: dict[str, list[dict]]  # validation and test (and train when it is a sample: at most a few 10 k rows)
    lengths: dict
    sample: list[dict]             # the first EDA_ROWS training rows: a seeded sample (rows are in rank order)


def run(cfg: Config) -> PrepareResult:
    """Stream the configured file(s); write outputs/data/{train,validation,test}.jsonl, the catalogue, the retrieval
    index, every split row's neighbours and prepare_report.json. Memory does not grow with the file: the scan keeps
    hashes and lengths per row and writes the survivors' text to Arrow files, which the catalogue is made from."""
    data = cfg.data
    started = time.perf_counter()
    if message := missing_data_message(cfg):
        raise FileNotFoundError(message)
    phases: dict[str, float] = {}
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".scan-", dir=cfg.data_dir) as parts:
        scanned, test_scan, sampled = scan_source(cfg, Path(parts), phases)
        splits, leakage_removed = assign_splits(scanned.candidates, test_scan.candidates if test_scan else None, data)
        truncated = sum(row.pop("capped") for rows in splits.values() for row in rows or ())
        tick = time.perf_counter()
        catalogue = write_catalogue(cfg, scanned, splits)
        phases["catalogue_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    for name in ("validation", "test") + (("train",) if splits["train"] is not None else ()):
        atomic_write_jsonl(stages.path(cfg, f"{name}_split"), ({"uid": r["uid"], "title": r["title"],
                                                                 "content": r["content"]} for r in splits[name]))
    atomic_write_json(stages.path(cfg, "lengths"), scanned.lengths)
    phases["write_s"] = time.perf_counter() - tick
    retrieval_report = index_and_neighbours(cfg, catalogue, phases)

    report = dict(scanned.report)
    report["content_truncated"] = truncated
    report["descriptions"] = descriptions_report(report, catalogue.get("finished"), sampled)
    report["leakage_removed"] = leakage_removed
    report["split_sizes"] = {"train": catalogue["train_rows"], "validation": len(splits["validation"]),
                             "test": len(splits["test"])}
    report["source"] = str(data.path)
    report["scanner"] = scanner_for(data)
    report["catalogue"] = {k: catalogue[k] for k in ("catalogue_rows", "held_out_rows", "digest")}
    report["retrieval"] = retrieval_report
    if test_scan:
        report["test_file"] = test_scan.report
        report["test_source"] = str(data.test_path)
    report["phase_s"] = {k: round(v, 3) for k, v in phases.items()}
    report["wall_s"] = round(time.perf_counter() - started, 3)
    atomic_write_json(stages.path(cfg, "prepare_report"), report)
    sample = (splits["train"] if splits["train"] is not None else read_jsonl_head(stages.path(cfg, "train_split"),
                                                                                    EDA_ROWS))[:EDA_ROWS]
    return PrepareResult(report, {k: v for k, v in splits.items() if v is not None}, scanned.lengths, sample)


def read_report(cfg: Config) -> dict:
    """prepare's report (the funnel, the descriptions trimmed, the token-length sample's counts)."""
    return orjson.loads(stages.require(cfg, "prepare_report").read_bytes())


def scan_source(cfg: Config, parts: Path, phases: dict):
    """The merged scan of data.path (its survivors written to `parts`) and of data.test_path when set. The scan keeps
    the lowest-ranked eligible rows as the sample's candidates; with too few (a duplicate-heavy head of the ranking
    ate the head-room) it scans again keeping more."""
    data = cfg.data
    source = cfg.resolve(data.path)
    test_source = cfg.resolve(data.test_path) if data.test_path else None
    held = data.n_validation + (0 if test_source else data.n_test)
    need = held + (0 if data.n_train == ALL_ROWS else data.n_train)
    keep = 2 * need + 1000  # head-room for rows lost to dedupe and to leakage removal
    # the survivors' text is written only where a catalogue of every row is made from it
    if cfg.retrieval.source == "train" and data.n_train != ALL_ROWS:
        parts = None
    while True:
        t0 = time.perf_counter()
        scanned = merge(scan_file(source, data, keep, parts), data)
        sampled = finish_rows(scanned.candidates, data)
        phases["scan_s"] = time.perf_counter() - t0
        if len(scanned.candidates) >= need + (data.n_test if test_source else 0) or not scanned.may_have_more:
            break
        keep *= 4
    test_scan = merge(scan_file(test_source, data, 2 * data.n_test + 1000), data) if test_source else None
    if test_scan:
        finish_rows(test_scan.candidates, data)
    return scanned, test_scan, sampled


# ------------------------------------------------------------------------------------------ whole descriptions
def finish_rows(rows: list[dict], data: DataParams) -> Finished:
    """clean.finish_content on each row, in place (its `capped` flag set), the rows it drops removed: the sample's
    candidates, finished as the scan workers finish the catalogue's rows (scan.SurvivorSink)."""
    counts, kept = Finished(), []
    for row in rows:
        row["content"], bits = finish_content(row["content"], data.max_content_chars, data.trim_to_sentence,
                                              data.min_content_chars)
        row["capped"] = bool(bits & CAPPED)
        counts.add(bits)
        if not bits & DROPPED:
            kept.append(row)
    rows[:] = kept
    return counts


def descriptions_report(report: dict, finished: Finished | None, sampled: Finished) -> dict:
    """The prepare report's `descriptions`: how many described rows stop mid-sentence, were capped, trimmed to
    their last whole sentence, or dropped for having none. Counted over every eligible row where the catalogue holds
    them all (the funnel then shows the drops as `no_whole_sentence`), else over the sample's candidates."""
    counts, over = (finished, "every eligible row") if finished is not None else (sampled, "the sample's candidates")
    if finished is not None:
        report["dropped"]["no_whole_sentence"] = finished.dropped
        report["eligible"] -= finished.dropped
    return {"counted_over": over, **dataclasses.asdict(counts),
            "stopped_mid_sentence_share": counts.stopped_mid_sentence / counts.rows if counts.rows else 0.0}


def assign_splits(candidates: list[dict], test_candidates: list[dict] | None, data: DataParams):
    """Test first, then validation, then train, in rank order; train skips held-out titles (leakage). With
    data.n_train -1 the train split is every eligible row not held out: the catalogue writes it (None here)."""
    pool = list(candidates)
    if test_candidates is not None:
        test = test_candidates[: data.n_test]
    else:
        test, pool = pool[: data.n_test], pool[data.n_test:]
    validation, pool = pool[: data.n_validation], pool[data.n_validation:]
    held_out = {title_key(r["title"]) for r in test + validation}
    train, leakage_removed = [], 0
    for row in pool:
        if len(train) == data.n_train:
            break
        if title_key(row["title"]) in held_out:
            leakage_removed += 1
            continue
        train.append(row)
    want_train = max(data.n_train, 1) if data.n_train != ALL_ROWS else 0
    sizes = {"train": (len(train), want_train), "validation": (len(validation), data.n_validation),
             "test": (len(test), data.n_test)}
    short = {name: got for name, (got, want) in sizes.items() if got < want}
    if short:
        detail = ", ".join(f"{name}: {sizes[name][0]} of {sizes[name][1]}" for name in short)
        raise ValueError(
            f"not enough eligible rows for the requested split sizes ({detail}); "
            "lower data.n_train / n_validation / n_test or relax the cleaning thresholds"
        )
    return {"train": None if data.n_train == ALL_ROWS else train, "validation": validation, "test": test}, \
        leakage_removed


def write_catalogue(cfg: Config, scanned, splits: dict) -> dict:
    """catalogue.arrow (descgen/retrieval.py): with retrieval.source catalogue, every eligible row in rank order,
    those not held out first, then the validation and test rows and every row sharing their normalised title; with
    source train, the train split. With data.n_train -1 the train split is the catalogue part, written to
    train.jsonl from the same batches. Returns the catalogue's meta and the train split's size."""
    held_rows = splits["validation"] + splits["test"]
    held_keys = np.fromiter((retrieval.key_hash(r["title"]) for r in held_rows), np.uint64, len(held_rows))
    whole_train = splits["train"] is None
    if cfg.retrieval.source == "train" and not whole_train:
        rows = splits["train"]
        meta = retrieval.write_catalogue(cfg, [("shown", _columns(rows))])
        return dict(meta, train_rows=len(rows))
    import pyarrow as pa

    tables = [pa.ipc.open_file(pa.memory_map(part)).read_all() for part in scanned.parts]
    survivors = pa.concat_tables(tables)
    eligible = scanned.eligible
    held = eligible & np.isin(scanned.title_keys, held_keys)
    shown = eligible & ~held
    order = {name: np.flatnonzero(mask)[np.lexsort((np.flatnonzero(mask), scanned.ranks[mask]))]
             for name, mask in (("shown", shown), ("held", held))}
    if cfg.retrieval.source == "train":  # the whole train split, no held-out part
        order["held"] = order["held"][:0]
    train_file = _JsonlWriter(stages.path(cfg, "train_split")) if whole_train else None
    # the survivors' contents were finished by the scan workers (capped, trimmed to a whole sentence), each with its
    # bits: summed here over the eligible rows
    bits = survivors.column("finish").to_numpy()
    finished = Finished(**{name: int(((bits & bit) > 0)[eligible].sum()) for name, bit in (
        ("stopped_mid_sentence", STOPPED), ("capped", CAPPED), ("trimmed", TRIMMED), ("dropped", DROPPED))},
        rows=int(eligible.sum()))

    def batches():
        for name in ("shown", "held"):
            for start in range(0, len(order[name]), BATCH_ROWS):
                picked = order[name][start:start + BATCH_ROWS]
                taken = survivors.take(picked[(bits[picked] & DROPPED) == 0]).to_pydict()  # no whole sentence: dropped
                batch = {"uid": taken["uid"], "title": taken["title"], "content": taken["content"]}
                if train_file is not None and name == "shown":
                    train_file.write(batch)
                yield name, batch

    try:
        meta = retrieval.write_catalogue(cfg, batches())
    finally:
        if train_file is not None:
            train_file.close()
    return dict(meta, train_rows=meta["catalogue_rows"] if whole_train else len(splits["train"]),
                finished=finished)


def _columns(rows: list[dict]) -> dict[str, list]:
    return {name: [r[name] for r in rows] for name in ("uid", "title", "content")}


class _JsonlWriter:
    """train.jsonl written batch by batch, renamed into place when complete."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.handle = open(self.tmp, "wb")

    def write(self, batch: dict[str, list]) -> None:
        self.handle.write(b"".join(orjson.dumps({"uid": u, "title": t, "content": c}) + b"\n"
                                   for u, t, c in zip(batch["uid"], batch["title"], batch["content"])))

    def close(self) -> None:
        self.handle.close()
        self.tmp.replace(self.path)


def index_and_neighbours(cfg: Config, catalogue: dict, phases: dict) -> dict:
    """The retrieval index over the catalogue's titles, and the retrieval.candidates nearest catalogue rows of every
    train, validation and test row (what every later stage reads instead of searching again)."""
    tick = time.perf_counter()
    table = retrieval.Catalogue.open(cfg)
    titles = table.table.column("title").to_pylist()
    index = retrieval.Index.build(titles, cfg.retrieval.max_term_rows, catalogue["digest"])
    index.write(cfg)
    phases["index_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    searcher = retrieval.Searcher(index, table, threads=cfg.data.workers)
    found = {}
    for split in ("train", "validation", "test"):
        vectors = None
        if split == "train" and cfg.data.n_train == ALL_ROWS:  # the catalogue part itself: its rows are the queries
            shown = table.catalogue_rows
            split_titles, uids = titles[:shown], table.table.column("uid").to_pylist()[:shown]
            vectors = index.matrix[:shown]
        else:
            rows = stages.read_split(cfg, split)
            split_titles, uids = [r["title"] for r in rows], [r.get("uid") for r in rows]
        found[split] = retrieval.split_neighbours(searcher, split_titles, uids, cfg.retrieval.candidates, vectors)
    retrieval.write_neighbours(cfg, found, catalogue["digest"])
    phases["neighbours_s"] = time.perf_counter() - tick
    return {"terms": len(index.terms), "index_entries": int(index.matrix.nnz), "candidates": cfg.retrieval.candidates,
            "rows_with_a_neighbour": {split: float((parts["rows"][:, 0] >= 0).mean()) if len(parts["rows"]) else 0.0
                                      for split, parts in found.items()}}


def read_jsonl_head(path: Path, n: int) -> list[dict]:
    rows = []
    with open(path, "rb") as fh:
        for line in fh:
            rows.append(orjson.loads(line))
            if len(rows) == n:
                break
    return rows


# ------------------------------------------------------------------------------------------ notebook helpers
def funnel_table(report: dict):
    """The funnel as a two-column table whose rows add up to `lines_read`."""
    import pandas as pd

    rows = [("lines read", report["lines_read"])]
    rows += [(f"malformed: {k}", -v) for k, v in report["malformed_by_reason"].items() if v]
    rows += [(f"dropped: {k}", -v) for k, v in report["dropped"].items() if v]
    rows += [("eligible", report["eligible"])]
    rows += [(f"sampled: {k}", v) for k, v in report["split_sizes"].items()]
    table = pd.DataFrame(rows, columns=["step", "rows"])
    table["share of lines"] = (table["rows"].abs() / max(report["lines_read"], 1)).map("{:.1%}".format)
    return table


def plot_lengths(lengths: dict):
    import matplotlib.pyplot as plt

    bins = np.array(lengths["bins"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
    for ax, field_name in zip(axes, ("title", "content")):
        for stage, style in (("raw", "-"), ("clean", "--")):
            counts = np.array(lengths[f"{stage}_{field_name}"])
            ax.step(bins[:-1], counts, style, where="post", label=f"{stage} ({counts.sum():,} rows)")
        ax.set_xscale("symlog", linthresh=100)
        ax.set_xlabel(f"{field_name} length (characters)")
        ax.set_ylabel("rows")
        ax.legend()
    fig.tight_layout()
    return fig


def token_lengths(cfg: Config, tokenizer, rows: list[dict]) -> np.ndarray:
    """Prompt + description token count of each formatted training example (untruncated), with the neighbours
    training shows when retrieval.k > 0 (cut to leave the description its room): what training builds. Titles over
    prompt.max_title_tokens are cut, and a row whose prompt would leave its description no room is skipped, as in
    training: both counted in the prepare report (`token_lengths`), never raised."""
    from .predictor import Prompter

    made = Prompter(cfg, tokenizer).examples(rows, "train")
    path = stages.path(cfg, "prepare_report")
    if path.exists():
        report = orjson.loads(path.read_bytes())
        report["token_lengths"] = {"rows": len(rows), "titles_cut": made.titles_cut, "rows_skipped": len(made.skipped),
                                   "max_title_tokens": cfg.prompt.max_title_tokens}
        atomic_write_json(path, report)
    return np.array(made.lengths)


def coverage_table(token_counts: np.ndarray, max_seq_len: int):
    import pandas as pd

    sizes = sorted({128, 256, 384, 512, 768, 1024, max_seq_len})
    return pd.DataFrame({"max_seq_len": sizes,
                         "share that fits": [float((token_counts <= s).mean()) for s in sizes]})



def plot_token_lengths(token_counts: np.ndarray, max_seq_len: int):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.hist(token_counts, bins=50)
    ax.axvline(max_seq_len, color="red", ls="--", label=f"train.max_seq_len = {max_seq_len} "
                                                       f"({(token_counts <= max_seq_len).mean():.1%} fit)")
    ax.set_xlabel("tokens per formatted training example (prompt + description + end tokens)")
    ax.set_ylabel("examples")
    ax.legend()
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ words (EDA)
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
TOP_WORDS = 30


def word_counts(texts: list[str]) -> tuple[Counter, Counter]:
    """Words and adjacent word pairs, lower-cased, English stop words (scikit-learn's list) and one-letter
    tokens left out; a pair is two neighbouring tokens that are both kept."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words, bigrams = Counter(), Counter()
    for text in texts:
        kept = [t if t not in ENGLISH_STOP_WORDS and len(t) > 1 else None for t in _WORD_RE.findall(text.lower())]
        words.update(t for t in kept if t)
        bigrams.update(f"{a} {b}" for a, b in zip(kept, kept[1:]) if a and b)
    return words, bigrams


def word_clouds(cfg: Config, rows: list[dict]) -> dict[str, dict]:
    """A word cloud (PNG under outputs/data/) and the top words and bigrams of the titles and of the descriptions:
    {"title": {"png": path, "words": table, "bigrams": table}, "content": {...}}. The cloud is drawn from the same
    counts as the tables (wordcloud's generate_from_frequencies), seeded, so a rerun draws the same picture."""
    import pandas as pd
    from wordcloud import WordCloud

    found = {}
    for field in ("title", "content"):
        words, bigrams = word_counts([r[field] for r in rows])
        path = stages.path(cfg, f"{field}_wordcloud")
        path.parent.mkdir(parents=True, exist_ok=True)
        cloud = WordCloud(width=1200, height=480, background_color="white", random_state=cfg.data.seed,
                          max_words=150)
        cloud.generate_from_frequencies(words or {"(none)": 1}).to_file(str(path))
        found[field] = {"png": path,
                        "words": pd.DataFrame(words.most_common(TOP_WORDS), columns=["word", "count"]),
                        "bigrams": pd.DataFrame(bigrams.most_common(TOP_WORDS), columns=["bigram", "count"])}
    return found
