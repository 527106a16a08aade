"""Nearest catalogue rows by title: the catalogue prepare writes, the index it builds over it, the neighbours it finds
once for every row of the splits, and the live search for any other title (describe, the demo, the web app).

Products come in families (colours, sizes, a book's formats, a publisher's series) whose descriptions share most of
their text, so the described rows nearest a title are the best evidence of what its description says. Similarity is
TF-IDF cosine over word 1-2 grams of the titles (scikit-learn's CountVectorizer, sublinear tf, smooth idf, L2 rows),
and the k best rows come from sparse_dot_topn's exact top-n sparse product: ~1.3 M titles are searched without a
dense [queries × rows] score matrix (29 ms a query dense, 2.3 ms exact sparse; docs/benchmarks.md).

The catalogue (`retrieval.source: catalogue`) is every eligible described row of the input: the rows a shop has a
description for. Its first `catalogue_rows` rows may be shown to any row; the rest are the validation and test rows
(and rows sharing a normalised title with them), the *held-out* part. Who may be whose neighbour:
- never the row itself, nor a row with its normalised title (the copy would be the answer);
- a row prepare's splits hold (train, validation, test: a uid the catalogue knows) sees the catalogue part only, so
  no held-out description reaches training or evaluation;
- any other product (describe's rows without a description, a title typed in the demo) sees the whole catalogue,
  held-out rows included: nothing leaks into a product that has no description.
- only similarity > 0: a row sharing no word with the title is no neighbour.
`retrieval.source: train` draws neighbours from the train split alone (the catalogue file then holds it, no held-out
part): the smaller index the project had before, kept for comparison.

Files (outputs/data/, no pickle: loading runs no code from them):
    catalogue.arrow         uid, title, content, title_key (xxh64 of the normalised title), content_hash; Arrow IPC,
                            memory-mapped
    retrieval_index.npz     the [rows × terms] matrix (scipy's CSR arrays), idf, the meta (format, catalogue digest)
    retrieval_terms.json    the vocabulary, one term per column
    neighbours.npz          per split: the `retrieval.candidates` nearest catalogue rows and their similarities
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import xxhash

from . import stages
from .clean import title_key
from .config import Config
from .io import atomic_write_bytes, atomic_write_json

FORMAT = 2                # of the index, catalogue and neighbour files: 2 = catalogue + npz/JSON/Arrow (1 was a pickle)
QUERY_CHUNK = 4096        # titles per sparse product: their top-n lists only are held


class StaleIndex(stages.MissingArtifact):
    """An index, catalogue or neighbour file of another format or for other rows: the message names the stage that
    builds them."""


def _stale(what: str, why: str) -> StaleIndex:
    return StaleIndex(f"{what} {why}: run the prepare stage again (./run_all.sh --from prepare, with the same "
                      "--profile and --set)")


def key_hash(text: str) -> int:
    """The 64-bit key a title is compared by: xxh64 of its normalised form (clean.title_key)."""
    return xxhash.xxh3_64_intdigest(title_key(text))


def content_hash(text: str) -> int:
    """Which rows share a description (the copy-or-write gate counts them: a series blurb is on dozens)."""
    return xxhash.xxh3_64_intdigest(text.encode())


def uid_hash(uid) -> int:
    return xxhash.xxh3_64_intdigest(str(uid).encode())


# ------------------------------------------------------------------------------------------ the catalogue file
def write_catalogue(cfg: Config, batches: Iterable[tuple[str, dict[str, list]]]) -> dict:
    """Write catalogue.arrow from (part, column batch) pairs ({uid, title, content} lists; part "shown" for the
    catalogue part, then "held" for the held-out part), then its meta (format, part sizes, digest of the rows;
    recorded again in the index and the neighbour file, which are refused for any other catalogue)."""
    import pyarrow as pa

    path = stages.path(cfg, "catalogue")
    schema = pa.schema([("uid", pa.string()), ("title", pa.string()), ("content", pa.string()),
                        ("title_key", pa.uint64()), ("content_hash", pa.uint64())])
    digest = xxhash.xxh3_64()
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = {"shown": 0, "held": 0}
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for part, batch in batches:
            if part == "shown" and written["held"]:
                raise RuntimeError("catalogue: a row of the catalogue part came after the held-out part")
            keys = np.fromiter((key_hash(t) for t in batch["title"]), np.uint64, len(batch["title"]))
            contents = np.fromiter((content_hash(c) for c in batch["content"]), np.uint64, len(batch["content"]))
            for uid, title, content in zip(batch["uid"], batch["title"], batch["content"]):
                digest.update(f"{uid}\x00{title}\x00{content}\x01".encode())
            writer.write_batch(pa.record_batch([pa.array(batch["uid"], pa.string()), pa.array(batch["title"]),
                                                pa.array(batch["content"]), pa.array(keys), pa.array(contents)],
                                               schema=schema))
            written[part] += len(keys)
    meta = {"format": FORMAT, "catalogue_rows": written["shown"], "held_out_rows": written["held"],
            "digest": digest.hexdigest()}
    tmp.replace(path)
    atomic_write_json(stages.path(cfg, "catalogue_meta"), meta)
    return meta


class Catalogue:
    """catalogue.arrow, memory-mapped: rows are read by number, never all at once."""

    def __init__(self, table, meta: dict):
        self.table, self.meta = table, meta
        self.catalogue_rows, self.digest = meta["catalogue_rows"], meta["digest"]
        self.title_keys = self.table.column("title_key").to_numpy()
        self.content_hashes = self.table.column("content_hash").to_numpy()
        self._uid_order: tuple[np.ndarray, np.ndarray] | None = None
        self._chunks: dict | None = None

    @classmethod
    def open(cls, cfg: Config) -> "Catalogue":
        path = stages.require(cfg, "catalogue")
        meta = json.loads(stages.require(cfg, "catalogue_meta").read_text())
        if meta.get("format") != FORMAT:
            raise _stale(str(path), f"is of format {meta.get('format')}, not {FORMAT}")
        import pyarrow as pa

        return cls(pa.ipc.open_file(pa.memory_map(str(path))).read_all(), meta)

    @classmethod
    def of_rows(cls, rows: list[dict], held_out: list[dict] = ()) -> "Catalogue":
        """An in-memory catalogue of `rows` (+ a held-out part): for tests and benchmarks, no files."""
        import pyarrow as pa

        every = list(rows) + list(held_out)
        table = pa.table({"uid": pa.array([r.get("uid") for r in every], pa.string()),
                          "title": [r["title"] for r in every], "content": [r.get("content", "") for r in every],
                          "title_key": pa.array([key_hash(r["title"]) for r in every], pa.uint64()),
                          "content_hash": pa.array([content_hash(r.get("content", "")) for r in every], pa.uint64())})
        return cls(table, {"format": FORMAT, "catalogue_rows": len(rows), "held_out_rows": len(held_out),
                           "digest": "in-memory"})

    def __len__(self) -> int:
        return self.table.num_rows

    def rows(self, numbers: Iterable[int]) -> list[dict]:
        """{uid, title, content} of the given rows, in that order: each value read from its Arrow chunk (~12 µs a
        row; a `take` across the memory-mapped chunks costs ~90)."""
        numbers = np.asarray(list(numbers), np.int64)
        if not len(numbers):
            return []
        if self._chunks is None:
            self._chunks = {name: self.table.column(name).chunks for name in ("uid", "title", "content")}
            self._chunk_starts = np.cumsum([0] + [len(c) for c in self._chunks["uid"][:-1]])
        chunk = np.searchsorted(self._chunk_starts, numbers, side="right") - 1
        offset = numbers - self._chunk_starts[chunk]
        columns = self._chunks
        return [{name: columns[name][c][o].as_py() for name in columns}
                for c, o in zip(chunk.tolist(), offset.tolist())]

    def row_of(self, uids: list) -> np.ndarray:
        """Each uid's row number (-1 where the catalogue has no such uid)."""
        if self._uid_order is None:
            hashes = np.fromiter((uid_hash(u) for u in self.table.column("uid").to_pylist()), np.uint64, len(self))
            order = np.argsort(hashes, kind="stable")
            self._uid_order = (hashes[order], order)
        sorted_hashes, order = self._uid_order
        wanted = np.fromiter((uid_hash(u) if u is not None else 0 for u in uids), np.uint64, len(uids))
        at = np.minimum(np.searchsorted(sorted_hashes, wanted), max(len(sorted_hashes) - 1, 0))
        found = (sorted_hashes[at] == wanted) if len(sorted_hashes) else np.zeros(len(uids), bool)
        rows = np.where(found, order[at] if len(order) else 0, -1)
        return np.where(np.array([u is not None for u in uids]), rows, -1)


# ------------------------------------------------------------------------------------------ the index
def _weigh(counts, idf: np.ndarray):
    """Sublinear tf (1 + ln tf) × idf, rows L2-normalised: TfidfVectorizer(sublinear_tf=True)'s weighting."""
    from sklearn.preprocessing import normalize

    counts = counts.tocsr().astype(np.float32)
    counts.data = 1.0 + np.log(counts.data)
    counts = counts.multiply(idf[None, :]).tocsr()
    return normalize(counts, norm="l2", copy=False).astype(np.float32)


@dataclass
class Index:
    terms: dict[str, int]        # vocabulary: term -> column
    idf: np.ndarray              # float32 per column
    matrix: object               # [catalogue rows × terms] CSR float32, L2-normalised rows
    meta: dict                   # format, catalogue digest, rows, max_term_rows
    _counter: object = None      # the query vectorizer, made on first use

    @classmethod
    def build(cls, titles: list[str], max_term_rows: int | None, catalogue_digest: str) -> "Index":
        """Every term of every title (word 1-2 grams); `max_term_rows` names the frequent ones the search treats
        apart (Searcher)."""
        from sklearn.feature_extraction.text import CountVectorizer

        counter = CountVectorizer(ngram_range=(1, 2), dtype=np.float32)
        counts = counter.fit_transform(titles)
        n = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)  # scikit-learn's smooth idf
        return cls(counter.vocabulary_, idf, _weigh(counts, idf),
                   {"format": FORMAT, "catalogue_digest": catalogue_digest, "rows": n, "max_term_rows": max_term_rows})

    def vectorize(self, titles: list[str]):
        if self._counter is None:
            from sklearn.feature_extraction.text import CountVectorizer

            # made once: scikit-learn validates a given vocabulary on first use (0.4 s for 3.6 M terms), not again
            self._counter = CountVectorizer(ngram_range=(1, 2), dtype=np.float32, vocabulary=self.terms)
        return _weigh(self._counter.transform(titles), self.idf)

    def write(self, cfg: Config) -> None:
        import io

        buffer = io.BytesIO()
        m = self.matrix
        np.savez(buffer, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape), idf=self.idf,
                 meta=np.frombuffer(json.dumps(self.meta).encode(), np.uint8))
        atomic_write_bytes(stages.path(cfg, "retrieval_index"), buffer.getvalue())
        terms = [None] * len(self.terms)
        for term, column in self.terms.items():
            terms[column] = term
        atomic_write_bytes(stages.path(cfg, "retrieval_terms"), json.dumps(terms, ensure_ascii=False).encode())

    @classmethod
    def load(cls, cfg: Config, catalogue: Catalogue) -> "Index":
        import scipy.sparse as sp

        path = stages.require(cfg, "retrieval_index")
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes())
            if meta.get("format") != FORMAT:
                raise _stale(str(path), f"is of format {meta.get('format')}, not {FORMAT}")
            if meta.get("catalogue_digest") != catalogue.digest or meta.get("rows") != len(catalogue):
                raise _stale(str(path), "was built for another catalogue")
            matrix = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"]))
            idf = arrays["idf"]
        terms = json.loads(stages.require(cfg, "retrieval_terms").read_text(encoding="utf-8"))
        return cls({term: column for column, term in enumerate(terms)}, idf, matrix, meta)


# ------------------------------------------------------------------------------------------ search
RESCORED = 50  # candidates per query and part whose exact similarity is computed (docs/benchmarks.md: 20-100 alike)


@dataclass
class _Part:
    """One part of the index (catalogue rows, or held-out rows), its rows reversed: sparse_dot_topn keeps, among equal
    scores, the highest column, which is then the lowest row, so the best n are the first n of one order (score, then
    row) whatever n is asked."""
    start: int
    stop: int
    rare: object        # [rare terms × rows] CSR: the candidate product's right side
    frequent: object    # [rows × frequent terms] CSR: what the candidates' exact scores add
    whole: object = None  # [terms × rows] CSR, made only for a title with no rare term

    def row(self, column: np.ndarray) -> np.ndarray:
        return self.stop - 1 - column


class Searcher:
    """Exact TF-IDF cosine top-k over the catalogue, fast at 1.3 M rows: a term in more than retrieval.max_term_rows
    titles ("set", "black", "pack": ~190 of 3.6 M terms at 1.5 M titles) is where a sparse product spends its time
    (its posting list), so candidates come from the other terms (sparse_dot_topn, the RESCORED best by their partial
    score), then each candidate's exact cosine adds the frequent terms back. Measured on the 1.5 M-row stand-in
    (bench/retrieval_bench.py): 0.06 ms a query against 3.1 ms exact, the same neighbours; dropping the frequent terms
    outright found half as many siblings. A row that shares only frequent terms with a title is no candidate (its
    cosine is small); a title with no rarer term is searched exactly. `search` applies who-may-see-whom."""

    def __init__(self, index: Index, catalogue: Catalogue, threads: int = 1):
        self.index, self.catalogue, self.threads = index, catalogue, threads
        matrix = index.matrix
        limit = index.meta.get("max_term_rows")
        df = np.bincount(matrix.indices, minlength=matrix.shape[1])
        frequent = df > limit if limit is not None else np.zeros(matrix.shape[1], bool)
        self.rare_columns, self.frequent_columns = np.flatnonzero(~frequent), np.flatnonzero(frequent)
        split, total = catalogue.catalogue_rows, matrix.shape[0]
        self.parts = []
        for start, stop in ((0, split), (split, total)):
            if stop > start:
                rows = matrix[start:stop][::-1]
                self.parts.append(_Part(start, stop, rows[:, self.rare_columns].T.tocsr(),
                                        rows[:, self.frequent_columns].tocsr()))

    def search(self, titles: list[str], uids: list, k: int, vectors=None) -> list[list[tuple[int, float]]]:
        """For each title, up to k (catalogue row, cosine > 0), best first, equal scores in row order; never the row
        of its uid nor a row of its normalised title; a uid the catalogue holds sees the catalogue part only."""
        rows, scores = self.search_arrays(titles, uids, k, vectors)
        return [[(int(r), float(s)) for r, s in zip(row, score) if r >= 0] for row, score in zip(rows, scores)]

    def search_arrays(self, titles: list[str], uids: list, k: int, vectors=None) -> tuple[np.ndarray, np.ndarray]:
        """`search` as two [titles × k] arrays: rows (-1 where fewer than k were found) and similarities. `vectors`:
        the titles' TF-IDF rows when the caller has them (prepare's catalogue rows are the index's own rows)."""
        known = self.catalogue.row_of(uids)
        keys = np.fromiter((key_hash(t) for t in titles), np.uint64, len(titles))
        rows = np.full((len(titles), k), -1, np.int64)
        scores = np.zeros((len(titles), k), np.float32)
        for start in range(0, len(titles), QUERY_CHUNK):
            stop = min(start + QUERY_CHUNK, len(titles))
            queries = vectors[start:stop] if vectors is not None else self.index.vectorize(titles[start:stop])
            depth = max(RESCORED, k + 2)  # room for itself and a row of its title (prepare keeps one row per title)
            pending = np.arange(stop - start)
            while len(pending):
                query, row, score, full = self._candidates(queries[pending], depth, known[start + pending] >= 0)
                at = start + pending[query]
                # never itself, nor a row of its normalised title
                keep = (row != known[at]) & (self.catalogue.title_keys[row] != keys[at])
                query, row, score = query[keep], row[keep], score[keep]
                order = np.lexsort((row, -score, query))  # per query: best first, equal scores in row order
                query, row, score = query[order], row[order], score[order]
                first = np.searchsorted(query, np.arange(len(pending)))
                rank = np.arange(len(query)) - first[query]
                top = rank < k
                rows[start + pending[query[top]], rank[top]] = row[top]
                scores[start + pending[query[top]], rank[top]] = score[top]
                found = np.bincount(query[top], minlength=len(pending))
                pending, depth = pending[(found < k) & full], depth * 4  # more rows of its title than room
        return rows, scores

    def _candidates(self, queries, depth: int, known: np.ndarray):
        """Each query's candidates with their exact cosine, over the parts it may see (the held-out part for unknown
        uids only): (query, row, score) arrays, and per query whether a part filled all `depth` places."""
        rare, frequent = queries[:, self.rare_columns].tocsr(), queries[:, self.frequent_columns].tocsr()
        no_rare = np.diff(rare.indptr) == 0
        parts = []
        full = np.zeros(queries.shape[0], bool)
        for number, part in enumerate(self.parts):
            asking = np.arange(queries.shape[0]) if number == 0 else np.flatnonzero(~known)
            for group, exact in ((asking[~no_rare[asking]], False), (asking[no_rare[asking]], True)):
                if len(group):
                    position, row, score = self._part_top(part, queries, rare, frequent, group, depth, exact)
                    parts.append((group[position], row, score))
                    # filled every place, and the part has more rows: a deeper ask may find more
                    if depth < part.stop - part.start:
                        full[group] |= np.bincount(position, minlength=len(group)) >= depth
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), full
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]), full)

    def _part_top(self, part: _Part, queries, rare, frequent, group: np.ndarray, depth: int, exact: bool):
        from sparse_dot_topn import sp_matmul_topn

        n = min(depth, part.stop - part.start)
        if exact:  # no rarer term: every row, exactly (rare: a title of only the commonest words)
            if part.whole is None:
                part.whole = self.index.matrix[part.start:part.stop][::-1].T.tocsr()
            top = sp_matmul_topn(queries[group], part.whole, top_n=n, threshold=1e-9, sort=False,
                                 n_threads=self.threads).tocoo()
            return top.row, part.row(top.col), top.data
        # threshold > 0: a row sharing no rarer term with the title is no candidate
        top = sp_matmul_topn(rare[group], part.rare, top_n=n, threshold=1e-9, sort=False,
                             n_threads=self.threads).tocoo()
        added = part.frequent[top.col].multiply(frequent[group][top.row]).sum(axis=1)
        return top.row, part.row(top.col), top.data + np.asarray(added, np.float32).ravel()


# ------------------------------------------------------------------------------------------ neighbours
def split_neighbours(searcher: Searcher, titles: list[str], uids: list, candidates: int,
                     vectors=None) -> dict[str, np.ndarray]:
    """The `candidates` nearest catalogue rows of each split row, as prepare stores them: uid hashes (the rows' keys),
    row numbers (-1 where fewer were found) and similarities."""
    numbers, similarity = searcher.search_arrays(titles, uids, candidates, vectors)
    return {"uid_hash": np.fromiter((uid_hash(u) for u in uids), np.uint64, len(uids)),
            "rows": numbers.astype(np.int32), "similarity": similarity}


def write_neighbours(cfg: Config, found: dict[str, dict[str, np.ndarray]], catalogue_digest: str) -> None:
    import io

    arrays = {f"{split}_{name}": value for split, parts in found.items() for name, value in parts.items()}
    meta = {"format": FORMAT, "catalogue_digest": catalogue_digest, "candidates": cfg.retrieval.candidates,
            "splits": sorted(found)}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    atomic_write_bytes(stages.path(cfg, "neighbours"), buffer.getvalue())


class NeighbourSource:
    """What neighbours are drawn from, loaded once: the catalogue (memory-mapped), the index (for titles outside the
    splits) and the neighbours prepare found for the splits' rows. What the predictor, training and the retrieval
    floor ask a row's nearest rows."""

    def __init__(self, catalogue: Catalogue, index, stored: dict[str, dict[str, np.ndarray]], candidates: int):
        """`index`: the Index, or a function that loads it (only a search needs it: the split rows' neighbours are
        stored, and at 1.3 M titles the vocabulary takes ~4 s and ~0.5 GB to load)."""
        self.catalogue, self._index, self.stored, self.candidates = catalogue, index, stored, candidates
        self._searcher: Searcher | None = None
        self._positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def index(self) -> Index:
        if callable(self._index):
            self._index = self._index()
        return self._index

    @classmethod
    def load(cls, cfg: Config) -> "NeighbourSource":
        catalogue = Catalogue.open(cfg)
        index = lambda: Index.load(cfg, catalogue)  # noqa: E731
        path = stages.require(cfg, "neighbours")
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes())
            if meta.get("format") != FORMAT or meta.get("catalogue_digest") != catalogue.digest:
                raise _stale(str(path), "was found in another catalogue")
            stored = {split: {name: arrays[f"{split}_{name}"] for name in ("uid_hash", "rows", "similarity")}
                      for split in meta["splits"]}
        return cls(catalogue, index, stored, meta["candidates"])

    @classmethod
    def of_rows(cls, rows: list[dict], held_out: list[dict] = (), max_term_rows: int | None = None) -> "NeighbourSource":
        """Neighbours among `rows` (+ a held-out part), found by search: for tests and benchmarks, no files."""
        catalogue = Catalogue.of_rows(rows, held_out)
        index = Index.build(catalogue.table.column("title").to_pylist(), max_term_rows, catalogue.digest)
        return cls(catalogue, index, {}, 0)

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            self._searcher = Searcher(self.index, self.catalogue)
        return self._searcher

    def nearest(self, rows: list[dict], k: int, split: str | None = None) -> list[list[dict]]:
        """Each row's k nearest catalogue rows {uid, title, content, similarity, row}, best first. `split`: the
        prepare split the rows are; their neighbours were found by prepare (the same answer a search gives now)."""
        hits: list[list[tuple[int, float]] | None] = [None] * len(rows)
        if split in self.stored and k <= self.candidates:
            positions = self._positions_in(split, rows)
            present = np.flatnonzero(positions >= 0)
            numbers = self.stored[split]["rows"][positions[present], :k].tolist()
            scores = self.stored[split]["similarity"][positions[present], :k].tolist()
            for i, row_numbers, row_scores in zip(present.tolist(), numbers, scores):
                hits[i] = [(r, s) for r, s in zip(row_numbers, row_scores) if r >= 0]
        missing = [i for i, h in enumerate(hits) if h is None]
        if missing:
            searched = self.searcher.search([rows[i]["title"] for i in missing], [rows[i].get("uid") for i in missing], k)
            for i, row_hits in zip(missing, searched):
                hits[i] = row_hits
        taken = self.catalogue.rows([row for row_hits in hits for row, _ in row_hits])
        hashes = self.catalogue.content_hashes
        out, at = [], 0
        for row_hits in hits:
            out.append([dict(taken[at + j], similarity=score, row=row, content_hash=int(hashes[row]))
                        for j, (row, score) in enumerate(row_hits)])
            at += len(row_hits)
        return out

    @property
    def description_rows(self) -> np.ndarray:
        """Per catalogue row, how many rows share its description (a series blurb: dozens)."""
        if getattr(self, "_description_rows", None) is None:
            _, inverse, counts = np.unique(self.catalogue.content_hashes, return_inverse=True, return_counts=True)
            self._description_rows = counts[inverse]
        return self._description_rows

    def _positions_in(self, split: str, rows: list[dict]) -> np.ndarray:
        """Each row's position in the split prepare stored (-1: not a row of it)."""
        if split not in self._positions:
            hashes = self.stored[split]["uid_hash"]
            order = np.argsort(hashes, kind="stable")
            self._positions[split] = (hashes[order], order)
        sorted_hashes, order = self._positions[split]
        wanted = np.fromiter((uid_hash(r.get("uid")) for r in rows), np.uint64, len(rows))
        if not len(sorted_hashes):
            return np.full(len(rows), -1)
        at = np.minimum(np.searchsorted(sorted_hashes, wanted), len(sorted_hashes) - 1)
        return np.where((sorted_hashes[at] == wanted) & np.array([r.get("uid") is not None for r in rows], bool),
                        order[at], -1)


def check_ready(cfg: Config) -> None:
    """Raise stages.MissingArtifact naming prepare when the neighbours' files are not on disk."""
    for artifact in ("catalogue", "catalogue_meta", "retrieval_index", "retrieval_terms", "neighbours"):
        stages.require(cfg, artifact)


def source_digest(cfg: Config) -> str:
    """Which rows neighbours are drawn from (describe's resume check): the catalogue's digest."""
    return json.loads(stages.require(cfg, "catalogue_meta").read_text())["digest"]


def fit(cfg: Config, tokenizer, rows: list[dict], found: list[list[dict]], for_training: bool = False) -> list[dict]:
    """`rows` with `found` (each row's nearest rows, best first) as the prompt shows them: those at least
    `retrieval.min_similarity` similar, cut to fit. A training row keeps room for its own description within
    train.max_seq_len (neighbours are cut, never the answer); a row to generate for keeps room for
    eval.max_new_tokens."""
    from .prompts import answer_tokens, fit_neighbours

    near = [[n for n in row_near if n["similarity"] >= cfg.retrieval.min_similarity] for row_near in found]
    answers = answer_tokens(tokenizer, cfg.prompt, rows) if for_training else [cfg.eval.max_new_tokens] * len(rows)
    return fit_neighbours(tokenizer, cfg.prompt, rows, near, [cfg.train.max_seq_len - a for a in answers],
                          cfg.retrieval.description_tokens)


def attach(cfg: Config, tokenizer, rows: list[dict], source: NeighbourSource, split: str | None = None,
           for_training: bool = False) -> list[dict]:
    """`rows` with their retrieval.k neighbours from `source`, fitted (`fit`); k = 0 returns the rows as they are:
    the plain prompt."""
    if cfg.retrieval.k == 0:
        return rows
    return fit(cfg, tokenizer, rows, source.nearest(rows, cfg.retrieval.k, split), for_training)
