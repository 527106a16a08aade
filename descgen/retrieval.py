"""Nearest training rows by title: the index prepare builds once over the train split, the neighbours a prompt
shows, and the retrieval floor (copy the nearest row's description).

Products come in families (colours, sizes, a book's formats) whose descriptions share most of their text, so the
training rows nearest a title are the best evidence of what its description says. Similarity is TF-IDF cosine
over word 1-2 grams of the titles (scikit-learn, already the floor's library): a sparse [queries × train] product,
~1 ms per 100 queries against 20 k rows here.

Who may be whose neighbour: never the row itself, nor a row with the same normalised title (leakage: prepare
keeps test and validation titles out of train, and dedupes titles). A sibling with another title and the same
description is a legitimate neighbour: it is what the catalogue holds.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass

import numpy as np
import xxhash

from . import stages
from .clean import title_key
from .config import Config
from .io import atomic_write_bytes

SCORES_PER_CHUNK = 20_000_000  # queries × train rows per densified product: 160 MB (1,000 queries at 20 k rows)


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    # float64, as the floor always was: float32 would halve the matrix (1.3 M titles ≈ 20 M entries: 240 -> 160 MB)
    # but can reorder near-ties, and with them the floor's copied descriptions
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)


@dataclass
class Index:
    vectorizer: object
    matrix: object               # [train rows × terms], L2-normalised rows (TfidfVectorizer's default)
    uids: list[str]
    title_keys: list[bytes]
    train_digest: str            # of train.jsonl's rows in order: an index never answers for another split

    @functools.cached_property
    def rows_by_title_key(self) -> dict[bytes, list[int]]:
        by_key: dict[bytes, list[int]] = {}
        for row, key in enumerate(self.title_keys):
            by_key.setdefault(key, []).append(row)
        return by_key

    @functools.cached_property
    def row_by_uid(self) -> dict[str, int]:
        return {uid: row for row, uid in enumerate(self.uids) if uid is not None}

    def search(self, titles: list[str], k: int, uids: list[str | None] | None = None) -> list[list[tuple[int, float]]]:
        """For each title, up to k (train row, cosine) pairs, best first, skipping the row with the same uid
        and rows with the same normalised title."""
        uids = uids or [None] * len(titles)
        keys = [title_key(t) for t in titles]
        by_key, by_uid = self.rows_by_title_key, self.row_by_uid
        found = []
        chunk = max(1, SCORES_PER_CHUNK // max(self.matrix.shape[0], 1))
        for start in range(0, len(titles), chunk):
            scores = (self.vectorizer.transform(titles[start:start + chunk]) @ self.matrix.T).toarray()
            for offset, row_scores in enumerate(scores):
                i = start + offset
                banned = list(by_key.get(keys[i], ()))
                if uids[i] is not None and uids[i] in by_uid:
                    banned.append(by_uid[uids[i]])
                row_scores[banned] = -1.0
                found.append([(int(j), float(row_scores[j])) for j in top_k(row_scores, k) if row_scores[j] >= 0])
        return found


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; equal scores in index order (so k = 1 is argmax), in O(n)."""
    take = min(k, len(scores))
    if take == 0:
        return np.zeros(0, np.int64)
    kth = np.partition(scores, len(scores) - take)[len(scores) - take]
    above = np.flatnonzero(scores > kth)
    top = np.concatenate([above, np.flatnonzero(scores == kth)[: take - len(above)]])
    return top[np.lexsort((top, -scores[top]))]


def rows_digest(rows: list[dict]) -> str:
    digest = xxhash.xxh3_64()
    for row in rows:
        digest.update(f"{row.get('uid')}\x00{row['title']}\x00{row['content']}\x01".encode())
    return digest.hexdigest()


def build(train_rows: list[dict]) -> Index:
    vectorizer = _vectorizer()
    matrix = vectorizer.fit_transform([r["title"] for r in train_rows]).tocsr()
    return Index(vectorizer, matrix, [r.get("uid") for r in train_rows], [title_key(r["title"]) for r in train_rows],
                 rows_digest(train_rows))


def write(cfg: Config, index: Index) -> None:
    atomic_write_bytes(stages.path(cfg, "retrieval_index"), pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))


def load(cfg: Config, train_rows: list[dict]) -> Index:
    """prepare's index, checked against the train split it must describe (rebuilt and rewritten if not: a split
    rewritten by hand, or an index from older code)."""
    try:
        index = pickle.loads(stages.require(cfg, "retrieval_index").read_bytes())
    except FileNotFoundError:
        index = None
    if not isinstance(index, Index) or index.train_digest != rows_digest(train_rows):
        index = build(train_rows)
        write(cfg, index)
    return index


def neighbours(index: Index, train_rows: list[dict], rows: list[dict], k: int) -> list[list[dict]]:
    """Each row's k nearest training rows as {uid, title, content, similarity}, best first (never itself)."""
    hits = index.search([r["title"] for r in rows], k, [r.get("uid") for r in rows])
    return [[{"uid": train_rows[j].get("uid"), "title": train_rows[j]["title"], "content": train_rows[j]["content"],
              "similarity": score} for j, score in row_hits] for row_hits in hits]


class NeighbourSource:
    """The rows neighbours are drawn from and the index that finds them, loaded once: what the predictor, training
    and the retrieval floor ask for a row's nearest rows."""

    def __init__(self, index: Index, rows: list[dict]):
        self.index, self.rows = index, rows

    @classmethod
    def load(cls, cfg: Config) -> "NeighbourSource":
        rows = stages.read_split(cfg, "train")
        return cls(load(cfg, rows), rows)

    def nearest(self, rows: list[dict], k: int, split: str | None = None) -> list[list[dict]]:
        """Each row's k nearest rows {uid, title, content, similarity}, best first, never itself nor a row of its
        normalised title. `split`: the prepare split `rows` are (the same answer, found in the same index)."""
        return neighbours(self.index, self.rows, rows, k)


def source_digest(cfg: Config) -> str:
    """Which rows neighbours are drawn from (for describe's resume check): the train split's digest."""
    return rows_digest(stages.read_split(cfg, "train"))


def check_ready(cfg: Config) -> None:
    """Raise stages.MissingArtifact naming prepare when the neighbours' source is not on disk."""
    stages.require(cfg, "train_split")


def fit(cfg: Config, tokenizer, rows: list[dict], found: list[list[dict]], for_training: bool = False) -> list[dict]:
    """`rows` with `found` (each row's nearest rows, best first) as the prompt shows them: those at least
    `retrieval.min_similarity` similar, cut to fit. A training row keeps room for its own description within
    train.max_seq_len (neighbours are cut, never the answer); a row to generate for keeps room for
    eval.max_new_tokens."""
    from .prompts import answer_tokens, fit_neighbours

    fitted = []
    for row, near in zip(rows, found):
        near = [n for n in near if n["similarity"] >= cfg.retrieval.min_similarity]
        answer = answer_tokens(tokenizer, cfg.prompt, row) if for_training else cfg.eval.max_new_tokens
        fitted.append(fit_neighbours(tokenizer, cfg.prompt, row, near, cfg.train.max_seq_len - answer,
                                     cfg.retrieval.description_tokens))
    return fitted


def attach(cfg: Config, tokenizer, rows: list[dict], source: NeighbourSource, split: str | None = None,
           for_training: bool = False) -> list[dict]:
    """`rows` with their retrieval.k neighbours from `source`, fitted (`fit`); k = 0 returns the rows as they are:
    the plain prompt."""
    if cfg.retrieval.k == 0:
        return rows
    return fit(cfg, tokenizer, rows, source.nearest(rows, cfg.retrieval.k, split), for_training)
