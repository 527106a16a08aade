"""Retrieval by measurement: how the catalogue index (descgen/retrieval.py) should search, at 20 k and ~1.5 M
catalogue rows of the full-size stand-in (bench/standin.py), and what each choice does to the floor on the real-like
sample.

    python bench/retrieval_bench.py                          # both sizes + the sample (~10 min on 2 cores)
    python bench/retrieval_bench.py --sizes 20000            # quicker
    pip install bm25s==0.3.16 && python bench/retrieval_bench.py   # adds bm25s (not a project dependency)

Variants, all over word 1-2 grams of the titles with the project's who-may-see-whom rules:
- exact:        every term in one sparse product (retrieval.max_term_rows: null): the reference the others are held to
- two-stage N:  the project's search: candidates from the terms in at most N titles, then their exact cosine
                (retrieval.max_term_rows: N)
- drop N:       terms in more than N titles left out of the index altogether
- stop words:   scikit-learn's English stop words left out, every other term kept
- bm25s:      BM25 over unigrams (its own tokenizer), when installed

Speed and size: build time, the index's size (matrix + vocabulary), ms per query (k = 5, 2 threads) on 2,000 queries
that are catalogue rows (each excludes itself), and recall@1 / recall@5 against the exact top 5 (the share of the
exact neighbours a variant also returns). Quality: the retrieval floor (copy the nearest row's description) on the cpu
profile's test split of the bundled sample, with each variant, from the catalogue and from the train split.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from descgen import retrieval  # noqa: E402

QUERIES = 2000
K = 5


def stand_in_catalogue(rows: int) -> list[dict]:
    """The first `rows` described rows of the full-size stand-in, cleaned as prepare cleans them."""
    import orjson

    import standin
    from descgen.clean import clean_text

    found = []
    with open(standin.ensure(), "rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            if row["content"]:
                found.append({"uid": row["uid"], "title": clean_text(row["title"]), "content": row["content"]})
                if len(found) == rows:
                    break
    return found


def variant_source(rows: list[dict], variant: str, held: list[dict] = ()):
    if variant == "bm25s":
        return Bm25(rows)  # (no held-out part: the quality run's catalogue variant shows it none)
    if variant == "exact":
        return retrieval.NeighbourSource.of_rows(rows, held, max_term_rows=None)
    if variant.startswith("two-stage"):  # the project's search (retrieval.max_term_rows: N)
        return retrieval.NeighbourSource.of_rows(rows, held, max_term_rows=int(variant.split()[1]))
    catalogue = retrieval.Catalogue.of_rows(rows, held)
    titles = catalogue.table.column("title").to_pylist()
    if variant == "stop words":
        index = _index(titles, stop_words="english")
    elif variant.startswith("drop"):  # frequent terms left out of the index altogether
        index = _index(titles, max_df=int(variant.split()[1]))
    else:
        raise ValueError(variant)
    return retrieval.NeighbourSource(catalogue, index, {}, 0)


def _index(titles: list[str], **options) -> retrieval.Index:
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(ngram_range=(1, 2), dtype=np.float32, **options)
    counts = counter.fit_transform(titles)
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
    index = retrieval.Index(counter.vocabulary_, idf, retrieval._weigh(counts, idf),
                            {"rows": counts.shape[0], "max_term_rows": None})
    options.pop("max_df", None)
    index._counter = CountVectorizer(ngram_range=(1, 2), dtype=np.float32, vocabulary=counter.vocabulary_, **options)
    return index


class Bm25:
    """bm25s's k best rows for each title (itself dropped), in the NeighbourSource's shape."""

    def __init__(self, rows: list[dict]):
        import bm25s

        self.bm25s, self.rows = bm25s, rows
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize([r["title"] for r in rows], show_progress=False), show_progress=False)

    def nearest(self, queries: list[dict], k: int, split=None) -> list[list[dict]]:
        ids, scores = self.retriever.retrieve(self.bm25s.tokenize([q["title"] for q in queries], show_progress=False),
                                              k=k + 1, show_progress=False)
        out = []
        for q, row_ids, row_scores in zip(queries, ids.tolist(), scores.tolist()):
            hits = [dict(self.rows[j], row=j, similarity=s) for j, s in zip(row_ids, row_scores)
                    if s > 0 and self.rows[j]["uid"] != q.get("uid")]
            out.append(hits[:k])
        return out


def variants(bm25: bool) -> list[str]:
    names = ["exact", "two-stage 20000", "two-stage 5000", "two-stage 1000", "drop 5000", "stop words"]
    return names + (["bm25s"] if bm25 else [])


def index_mb(source) -> float:
    if isinstance(source, Bm25):
        return float("nan")
    m = source.index.matrix
    vocabulary = sum(len(t) + 1 for t in source.index.terms)  # the JSON file's size, roughly
    return (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + vocabulary) / 1e6


def scale(rows: int, chosen: list[str]) -> None:
    catalogue = stand_in_catalogue(rows)
    rng = np.random.default_rng(0)
    asked = [catalogue[i] for i in rng.choice(len(catalogue), size=min(QUERIES, len(catalogue)), replace=False)]
    # a query with a sibling: another catalogue row has its very description (a variant, a series' blurb)
    sharing: dict[str, int] = {}
    for r in catalogue:
        sharing[r["content"]] = sharing.get(r["content"], 0) + 1
    has_sibling = [sharing[q["content"]] > 1 for q in asked]
    reference = None
    for name in chosen:
        started = time.perf_counter()
        source = variant_source(catalogue, name)
        if not isinstance(source, Bm25):
            source.searcher.threads = 2
        source.nearest(asked[:1], K)  # one-time work (the vocabulary's check, the uid lookup): not a query's cost
        built = time.perf_counter() - started
        started = time.perf_counter()
        nearest = source.nearest(asked, K)
        per_query_ms = (time.perf_counter() - started) / len(asked) * 1000
        found = [[n["uid"] for n in near] for near in nearest]
        siblings = np.mean([bool(near) and near[0]["content"] == q["content"]
                            for q, near, sib in zip(asked, nearest, has_sibling) if sib])
        if reference is None:
            reference = found
        at1 = np.mean([bool(r) and bool(f) and f[0] == r[0] for r, f in zip(reference, found) if r])
        at5 = np.mean([len(set(r) & set(f)) / len(r) for r, f in zip(reference, found) if r])
        print(f"{rows:>9,} rows  {name:<12} build {built:6.1f} s  index {index_mb(source):7.0f} MB  "
              f"{per_query_ms:7.3f} ms/query  recall@1 {at1:.3f}  recall@5 {at5:.3f}  "
              f"sibling first {siblings:.3f} of {sum(has_sibling)}", flush=True)


def quality(chosen: list[str]) -> None:
    from descgen import config, evaluation, prepare, stages

    cfg = config.load("cpu", ["paths.outputs=bench/data/retrieval/outputs"])
    prepare.run(cfg)
    test = stages.read_split(cfg, "test")
    shown = retrieval.Catalogue.open(cfg)
    catalogue_rows = shown.rows(range(shown.catalogue_rows))
    held = shown.rows(range(shown.catalogue_rows, len(shown)))
    sources = {"catalogue": catalogue_rows, "train split": stages.read_split(cfg, "train")}
    for where, rows in sources.items():
        for name in chosen:
            source = variant_source(rows, name, held if where == "catalogue" else ())
            copied = [near[0]["content"] if near else "" for near in source.nearest(test, 1)]
            scores = [s["rougeL"] for s in evaluation.rouge_scores(copied, [r["content"] for r in test])]
            print(f"floor  {where:<12} ({len(rows):>5} rows)  {name:<12} ROUGE-L {np.mean(scores):.4f} on "
                  f"{len(test)} test rows", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,1500000", help="catalogue row counts for the speed runs")
    parser.add_argument("--variants", nargs="+", default=None, help="e.g. exact 'prune 5000' (default: every one)")
    parser.add_argument("--no-quality", action="store_true", help="skip the sample's floor")
    args = parser.parse_args()
    bm25 = importlib.util.find_spec("bm25s") is not None
    if not bm25:
        print("bm25s not installed: `pip install bm25s==0.3.16` to compare it", flush=True)
    chosen = args.variants or variants(bm25)
    if not args.no_quality:
        quality(chosen)
    for rows in (int(r) for r in args.sizes.split(",")):
        scale(rows, chosen)


if __name__ == "__main__":
    main()
