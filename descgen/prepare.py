"""Stage 1: stream trn.json, clean, count every line, draw a seeded sample, write leak-free splits.

The reading, cleaning and counting live in `scan` (blocks, the C and Python per-line loops, the merge) and
`clean` (text rules); this module turns the merged candidates into the three splits and the report, and holds
the notebook's tables and plots.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import retrieval, stages
from .clean import cap_chars, title_key
from .config import Config, DataParams, missing_data_message
from .io import atomic_write_json, atomic_write_jsonl
from .prompts import completion_text, prompt_text
from .scan import merge, scan_file, scanner_for

# ------------------------------------------------------------------------------------------ the stage
@dataclass
class PrepareResult:
    report: dict
    splits: dict[str, list[dict]]
    lengths: dict


def run(cfg: Config) -> PrepareResult:
    """Stream the configured file(s), write outputs/data/{train,validation,test}.jsonl + prepare_report.json."""
    data = cfg.data
    started = time.perf_counter()
    source = cfg.resolve(data.path)
    test_source = cfg.resolve(data.test_path) if data.test_path else None
    if message := missing_data_message(cfg):
        raise FileNotFoundError(message)

    if data.n_train == ALL_ROWS:
        keep = 1 << 62  # every eligible row is a candidate (the full profile: ~1.3 M rows ≈ 1.5 GB of text held)
        need = 0
    else:
        need = data.n_train + data.n_validation + (0 if test_source else data.n_test)
        keep = 2 * need + 1000  # head-room for rows lost to dedupe and to leakage removal
    phases = {}
    while True:
        t0 = time.perf_counter()
        results = scan_file(source, data, keep)
        phases["scan_s"] = time.perf_counter() - t0
        scanned = merge(results, data)
        phases["merge_s"] = time.perf_counter() - t0 - phases["scan_s"]
        if len(scanned.candidates) >= need + data.n_test or not scanned.may_have_more:
            break
        keep *= 4  # a duplicate-heavy head of the ranking ate the head-room: rescan keeping more

    test_scan = merge(scan_file(test_source, data, 2 * data.n_test + 1000), data) if test_source else None
    splits, leakage_removed = assign_splits(scanned.candidates, test_scan.candidates if test_scan else None, data)

    truncated = 0
    for rows in splits.values():
        for row in rows:
            row["content"], cut = cap_chars(row["content"], data.max_content_chars)
            truncated += cut
    report = dict(scanned.report)
    report["content_truncated"] = truncated
    report["leakage_removed"] = leakage_removed
    report["split_sizes"] = {name: len(rows) for name, rows in splits.items()}
    report["source"] = str(data.path)
    report["scanner"] = scanner_for(data)
    if test_scan:
        report["test_file"] = test_scan.report
        report["test_source"] = str(data.test_path)
    report["wall_s"] = round(time.perf_counter() - started, 3)

    t0 = time.perf_counter()
    for name, rows in splits.items():
        atomic_write_jsonl(stages.path(cfg, f"{name}_split"), ({"uid": r["uid"], "title": r["title"],
                                                                 "content": r["content"]} for r in rows))
    atomic_write_json(stages.path(cfg, "lengths"), scanned.lengths)
    t1 = time.perf_counter()
    retrieval.write(cfg, retrieval.build(splits["train"]))
    phases["index_s"] = time.perf_counter() - t1
    phases["write_s"] = time.perf_counter() - t0
    report["phase_s"] = {k: round(v, 3) for k, v in phases.items()}
    atomic_write_json(stages.path(cfg, "prepare_report"), report)
    return PrepareResult(report, splits, scanned.lengths)


ALL_ROWS = -1  # data.n_train: -1 = every eligible row not held out for validation and test


def assign_splits(candidates: list[dict], test_candidates: list[dict] | None, data: DataParams):
    """Test first, then validation, then train, in rank order; train skips held-out titles (leakage)."""
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
    sizes = {"train": (len(train), max(data.n_train, 1)), "validation": (len(validation), data.n_validation),
             "test": (len(test), data.n_test)}
    short = {name: got for name, (got, want) in sizes.items() if got < want}
    if short:
        detail = ", ".join(f"{name}: {sizes[name][0]} of {sizes[name][1]}" for name in short)
        raise ValueError(
            f"not enough eligible rows for the requested split sizes ({detail}); "
            "lower data.n_train / n_validation / n_test or relax the cleaning thresholds"
        )
    return {"train": train, "validation": validation, "test": test}, leakage_removed


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
    training shows when retrieval.k > 0 (cut to leave the description its room)."""
    from .predictor import Prompter

    rows = Prompter(cfg, tokenizer).prompted(rows, "train", for_training=True)
    texts = [prompt_text(tokenizer, cfg.prompt, r) + completion_text(tokenizer, cfg.prompt, r) for r in rows]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return np.array([len(ids) for ids in encoded])


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
