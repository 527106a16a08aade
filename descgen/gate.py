"""Copy or write: for each product, copy the nearest catalogue row's description (made this product's:
descgen/copyedit.py) only where it is this product's text, with a promised precision; else let the fine-tune write.

**The promise, not the metric.** On real rows ROUGE-L scores another product's description about as well as a written
one (~0.10 against ~0.11), so a gate that maximised expected ROUGE-L copied at p >= 0.008: 138 of 250 test rows, 4 of
5 of those copies another product's text (a tutu given a parenting book's praise). A shop cannot publish that. So the
gate copies only where

    p = P(the nearest description is this product's | features)      a logistic regression on catalogue rows
    p >= precision_threshold      the lowest p at which the copies made (every p at or above it) are right
                                  gate.min_precision of the time (0.9), chosen on the cross-validated catalogue
                                  labels, checked on validation
    and p·copy_right + (1−p)·copy_wrong > p·write_right + (1−p)·write_wrong      copying is expected to score more

where copy_right / copy_wrong are the mean ROUGE-L of a shipped copy that is / is not this product's text (from the
same catalogue rows), and write_right / write_wrong the fine-tune's shipped texts' on validation rows whose nearest
description is / is not. A copy "is this product's text" where the nearest description scores eval.near_copy_rougeL
(0.5) against the product's own: real rows are bimodal (a right copy ~0.98, a wrong one ~0.10). The gate decides on
the texts it ships (`copyedit.copy_for`, `copyedit.written_for`); a copy left empty by its edits is written instead.

**Labels are free.** A catalogue row's nearest other row's description scored against its own is exactly what a
copy would score there: no generation. The gate is fitted on up to LABEL_ROWS such rows (the whole catalogue of the
bundled sample; a seeded sample of 1.3 M), cross-validated (5 folds) for its report and its operating point, which
the validation split then checks. It is stored beside the adapter (the `gate` artifact: plain JSON numbers, no
pickle), so describe, the demo and the web app use the gate of the adapter they load, and say each copy's p and the
promise in force.

**Features** of (title, its nearest rows) that tell a family from a look-alike: the nearest similarity and its gap
to the second; how many catalogue rows share the nearest description (a series blurb or a product's editions: real
right copies are mostly descriptions several rows share word for word) and how many of the other nearest rows have
it; the share of the title's words the description contains; the share of the nearest row's own title words its
description contains; the share of the nearest title's words *this* title lacks that the description names (a text
that names its own product is that product's, not this one's); the titles' length ratio; whether their first words
(the brand) match; the share of the shorter title the two share as a common prefix; whether they share a series
or product line in brackets ("(Carson Ryder)", "(Oathsworn)") or name different ones; how many words tell the two
titles apart (a variant differs in one to three); and the share of the copy its edits keep. bench/gate_features.py
measures what each earns (cross-validated AUC and recall at the promised precision).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .copyedit import Edited, copy_for
from .retrieval import content_hash

FEATURES = ("similarity", "gap", "description_rows", "agreeing_neighbours", "title_words_in_description",
            "own_title_in_description", "names_its_own_product", "title_length_ratio", "first_word_match",
            "common_prefix", "same_bracket", "differing_words", "kept_share")
LABEL_ROWS = 20_000   # catalogue rows the gate learns from (each a labelled pair at no generation cost)
MIN_COPIES = 10       # the operating point ignores thresholds that copy fewer labelled rows: their precision is noise
FORMAT = 3  # 3: the precision promise (precision_threshold) and the family features; 2 was the ROUGE-L-only gate
_WORD = re.compile(r"[a-z0-9]+")
_BRACKET = re.compile(r"[(\[]([^()\[\]]+)[)\]]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def brackets(title: str) -> set[str]:
    """The bracketed parts of a title, normalised: a series, a product line, a publisher's collection."""
    return {" ".join(words(part)) for part in _BRACKET.findall(title)} - {""}


def features(row: dict, near: list[dict], description_rows: np.ndarray, copy: Edited | None = None) -> np.ndarray:
    """The gate's features for a row ({title, content: its own description, if it has one}) and its nearest catalogue
    rows ({title, content, similarity, row, content_hash}, best first; at least one). `description_rows`: per catalogue
    row, how many rows share its description. `copy`: the nearest description as it would be shipped (`copy_for`;
    made here when not given)."""
    title, first = row["title"], near[0]
    # the rows sharing the nearest description, this row left out: a described row (a catalogue or test row) counts
    # itself where it shares it, which would tell the label; a row with no description (describe's) cannot
    shared = description_rows[first["row"]] - (bool(row.get("content")) and content_hash(row["content"]) == first["content_hash"])
    second = near[1]["similarity"] if len(near) > 1 else 0.0
    title_words, neighbour_words = words(title), words(first["title"])
    content_words = set(words(first["content"]))
    agreeing = sum(n["content_hash"] == first["content_hash"] for n in near[1:]) / max(len(near) - 1, 1)
    theirs_only = [w for w in neighbour_words if w not in set(title_words)]
    prefix = 0
    for a, b in zip(title_words, neighbour_words):
        if a != b:
            break
        prefix += 1
    ours, theirs = brackets(title), brackets(first["title"])
    return np.array([
        first["similarity"],
        first["similarity"] - second,
        np.log1p(shared),
        agreeing,
        np.mean([w in content_words for w in title_words]) if title_words else 0.0,
        np.mean([w in content_words for w in neighbour_words]) if neighbour_words else 0.0,
        # the words only the nearest title has, named by its description: it describes that product, by name
        np.mean([w in content_words for w in theirs_only]) if theirs_only else 0.0,
        np.log((len(title_words) + 1) / (len(neighbour_words) + 1)),
        float(bool(title_words) and bool(neighbour_words) and title_words[0] == neighbour_words[0]),
        prefix / max(min(len(title_words), len(neighbour_words)), 1),
        # one series or line in brackets (1), two different ones (-1), none to compare (0)
        1.0 if ours & theirs else (-1.0 if ours and theirs else 0.0),
        np.log1p(len(set(title_words) ^ set(neighbour_words))),
        # the share of the copy left once its edits drop the copied product's own facts
        (copy or copy_for(first["content"], first["title"], title)).kept_share,
    ], dtype=np.float64)


@dataclass
class Gate:
    """A fitted gate: standardisation, logistic coefficients, the four mean scores the expected-score rule weighs and
    the probability the precision promise starts at."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    copy_right: float
    copy_wrong: float
    write_right: float
    write_wrong: float
    min_precision: float = 0.9
    precision_threshold: float = 0.5
    report: dict = field(default_factory=dict)

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(x) - np.array(self.mean)) / np.array(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.array(self.coef) + self.intercept)))

    @property
    def score_threshold(self) -> float:
        """The probability above which copying is expected to score more than writing (0: always; >1: never)."""
        gain, loss = self.copy_right - self.write_right, self.write_wrong - self.copy_wrong
        if gain <= 0 and loss >= 0:
            return float("inf")
        if loss <= 0 and gain >= 0:
            return 0.0
        return loss / (gain + loss)

    @property
    def threshold(self) -> float:
        """The probability at and above which the gate copies: the precision promise's, unless the expected-score
        rule asks for more."""
        return max(self.precision_threshold, self.score_threshold)

    def expected(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(expected copy score, expected written score) at probability p."""
        return (p * self.copy_right + (1 - p) * self.copy_wrong, p * self.write_right + (1 - p) * self.write_wrong)

    def copies(self, p: np.ndarray) -> np.ndarray:
        """Whether each probability is a copy: the promise's threshold reached and copying expected to score more."""
        copy_score, write_score = self.expected(np.asarray(p, float))
        return (np.asarray(p) >= self.precision_threshold) & (copy_score > write_score)

    def decide(self, x: np.ndarray) -> list[dict]:
        """For each feature row: copy or not, p, and the two expected scores."""
        p = self.probability(x)
        copy_score, write_score = self.expected(p)
        return [{"copy": bool(c), "p": float(q), "expected_copy": float(e), "expected_write": float(w)}
                for q, c, e, w in zip(p, self.copies(p), copy_score, write_score)]

    def promise(self) -> str:
        """The promise in force, in words: what every copy's line refers to."""
        return (f"copies only where it is this product's text with {self.min_precision:.0%} precision, at p >= "
                f"{self.threshold:.3g}")

    def to_json(self) -> dict:
        return {"format": FORMAT, "features": list(FEATURES), "mean": self.mean, "scale": self.scale,
                "coef": self.coef, "intercept": self.intercept, "copy_right": self.copy_right,
                "copy_wrong": self.copy_wrong, "write_right": self.write_right, "write_wrong": self.write_wrong,
                "min_precision": self.min_precision, "precision_threshold": self.precision_threshold,
                "score_threshold": self.score_threshold, "threshold": self.threshold, "report": self.report}

    @classmethod
    def from_json(cls, data: dict, where: str = "the gate file") -> "Gate":
        if data.get("format") != FORMAT or data.get("features") != list(FEATURES):
            raise ValueError(f"{where} was written by other code (format {data.get('format')}, features "
                             f"{data.get('features')}): run the compare stage again")
        return cls(**{k: data[k] for k in ("mean", "scale", "coef", "intercept", "copy_right", "copy_wrong",
                                            "write_right", "write_wrong", "min_precision", "precision_threshold")},
                   report=data.get("report", {}))


def fit_probability(x: np.ndarray, right: np.ndarray, seed: int) -> tuple[dict, dict]:
    """A logistic regression of "the nearest description is this product's" on the features, standardised; with its
    5-fold cross-validated report (log-loss, AUC, the calibration: predicted against observed per probability bin)
    and the cross-validated probabilities (`cv_probability`), which the operating point is chosen on."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    model = LogisticRegression(C=1.0, max_iter=1000)
    report: dict = {"labelled_rows": int(len(right)), "right_share": float(right.mean())}
    if 0 < right.sum() < len(right) and min(right.sum(), len(right) - right.sum()) >= 5:
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        p = cross_val_predict(model, z, right, cv=folds, method="predict_proba")[:, 1]
        bins = np.minimum((p * 10).astype(int), 9)
        report.update(cv_log_loss=float(log_loss(right, p)), cv_auc=float(roc_auc_score(right, p)),
                      calibration=[{"predicted": float(p[bins == b].mean()), "observed": float(right[bins == b].mean()),
                                    "rows": int((bins == b).sum())} for b in range(10) if (bins == b).any()])
        report["cv_probability"] = p.tolist()
    if 0 < right.sum() < len(right):
        model.fit(z, right)
        coef, intercept = model.coef_[0].tolist(), float(model.intercept_[0])
    else:  # one class only: a constant probability
        coef, intercept = [0.0] * x.shape[1], float(np.log((right.mean() + 1e-6) / (1 - right.mean() + 1e-6)))
    return {"mean": mean.tolist(), "scale": scale.tolist(), "coef": coef, "intercept": intercept}, report


def precision_curve(p: np.ndarray, right: np.ndarray) -> list[dict]:
    """At each distinct probability t (highest first): the rows copied at p >= t, their precision, the recall of the
    right rows. What the operating point is read from, and 04_compare's curve."""
    order = np.argsort(-p, kind="stable")
    ranked, hits = p[order], np.cumsum(right[order])
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # the last row of each distinct p
    total = max(int(right.sum()), 1)
    return [{"threshold": float(ranked[i]), "copied": int(i + 1), "precision": float(hits[i] / (i + 1)),
             "recall": float(hits[i] / total)} for i in last]


def operating_point(curve: list[dict], min_precision: float, min_copies: int = MIN_COPIES) -> dict:
    """The lowest threshold at which the copies made (p at or above it, at least `min_copies` of them: fewer say
    nothing) are right at least `min_precision` of the time: the promise is the precision of the copies a threshold
    makes, not of every smaller set above it (a few confident wrong copies at the very top of 20,000 labels must not
    forbid copying altogether). None reachable: a threshold above every probability (never copy)."""
    reached = [point for point in curve if point["copied"] >= min_copies and point["precision"] >= min_precision]
    if not reached:
        return {"threshold": float("inf"), "copied": 0, "precision": None, "recall": 0.0}
    return min(reached, key=lambda point: point["threshold"])


def proportion(hits: int, n: int) -> dict:
    """A share with its 95 % Wilson interval (scipy): precision and recall on the validation and test rows."""
    from scipy.stats import binomtest

    if n == 0:
        return {"value": None, "hits": 0, "n": 0, "ci_low": None, "ci_high": None}
    interval = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"value": hits / n, "hits": int(hits), "n": int(n), "ci_low": float(interval.low),
            "ci_high": float(interval.high)}


def precision_recall(copied: np.ndarray, right: np.ndarray) -> dict:
    """The gate's copies judged by the truth: precision (copies that are this product's text), recall (this
    product's texts found), the share copied, each with its 95 % CI."""
    copied, right = np.asarray(copied, bool), np.asarray(right, bool)
    return {"precision": proportion(int((copied & right).sum()), int(copied.sum())),
            "recall": proportion(int((copied & right).sum()), int(right.sum())),
            "copied_share": proportion(int(copied.sum()), len(copied))}


def mean_or(values: np.ndarray, fallback: float) -> float:
    return float(values.mean()) if len(values) else fallback


def copies(rows: list[dict], near: list[list[dict]]) -> list[Edited | None]:
    """Each row's nearest description as the gate would ship it (`copy_for`: adapted, the copied product's own facts
    replaced or dropped); None where no row shares a word with the title."""
    return [copy_for(n[0]["content"], n[0]["title"], r["title"]) if n else None for r, n in zip(rows, near)]


def rouge_l(texts: list[str], rows: list[dict]) -> np.ndarray:
    """ROUGE-L of each text against its row's own description (0 for an empty text)."""
    from .evaluation import rouge_scores

    return np.array([s["rougeL"] for s in rouge_scores(texts, [r["content"] for r in rows])])


def copy_scores(rows: list[dict], shipped: list[Edited | None]) -> np.ndarray:
    """ROUGE-L of each row's shipped copy against its own description: what a copy scores there (0 where there is
    none)."""
    return rouge_l([c.text if c is not None else "" for c in shipped], rows)


def labelled(cfg, source, rows: list[dict], split: str | None) -> dict:
    """Rows with at least one neighbour, their features, the nearest description's plain and shipped scores, and
    whether it is this product's text (the plain description scores eval.near_copy_rougeL against the row's own)."""
    near = source.nearest(rows, cfg.retrieval.candidates, split)
    kept = [i for i, n in enumerate(near) if n]
    rows, near = [rows[i] for i in kept], [near[i] for i in kept]
    shipped = copies(rows, near)
    x = (np.stack([features(r, n, source.description_rows, c) for r, n, c in zip(rows, near, shipped)])
         if rows else np.zeros((0, len(FEATURES))))
    plain = rouge_l([n[0]["content"] for n in near], rows)
    return {"index": kept, "rows": rows, "x": x, "shipped": shipped, "plain": plain,
            "shipped_score": copy_scores(rows, shipped), "right": plain >= cfg.eval.near_copy_rougeL}


def fit(cfg, source, validation: list[dict], written: list[str]) -> Gate:
    """The gate for this catalogue and this fine-tune: the probability model from up to LABEL_ROWS catalogue rows
    (a seeded sample; each row's neighbours as a product outside the splits would not see them: never itself, nor
    the held-out rows), its operating point from their cross-validated probabilities (gate.min_precision), the copy
    side's mean scores from the same rows, the write side's from the fine-tune's texts for the validation rows as
    shipped (`written`), and the promise checked on the validation rows."""
    rng = np.random.default_rng(cfg.eval.seed)
    shown = source.catalogue.catalogue_rows
    picked = np.sort(rng.choice(shown, size=min(LABEL_ROWS, shown), replace=False))
    train = labelled(cfg, source, source.catalogue.rows(picked), None)
    right, scores = train["right"], train["shipped_score"]
    probability, report = fit_probability(train["x"], right, cfg.eval.seed)
    point = {"threshold": 0.5, "copied": None, "precision": None, "recall": None}
    cv_p = np.array(report.pop("cv_probability")) if "cv_probability" in report else None
    if cv_p is not None:
        curve = precision_curve(cv_p, right)
        point = operating_point(curve, cfg.gate.min_precision)
        report["cv_curve"] = thin(curve)
    report["operating_point"] = point

    val = labelled(cfg, source, validation, "validation")
    val_write = rouge_l([written[i] for i in val["index"]], val["rows"])
    gate = Gate(**probability, copy_right=mean_or(scores[right], cfg.eval.near_copy_rougeL),
                copy_wrong=mean_or(scores[~right], 0.0),
                write_right=mean_or(val_write[val["right"]], mean_or(val_write, 0.0)),
                write_wrong=mean_or(val_write[~val["right"]], mean_or(val_write, 0.0)),
                min_precision=cfg.gate.min_precision, precision_threshold=point["threshold"], report=report)
    if cv_p is not None:  # the cross-validated policy on the labelled rows, the expected-score rule included
        cv = precision_recall(gate.copies(cv_p), right)
        report.update(cv_copied_share=cv["copied_share"]["value"], cv_precision=cv["precision"]["value"],
                      cv_recall=cv["recall"]["value"])
    report["validation"] = checked(gate, val, validation, written)
    report["labelled_rows_sampled_from"] = int(shown)
    return gate


def checked(gate: Gate, val: dict, validation: list[dict], written: list[str]) -> dict:
    """The gate on the validation rows (`val`: their `labelled`): the rows it copies, precision and recall with 95 %
    CIs, and the ROUGE-L of the gated texts, the written ones, the copies and the better of the two per row."""
    copied = np.array([bool(d["copy"]) and bool(c.text) for d, c in
                       zip(gate.decide(val["x"]) if len(val["x"]) else [], val["shipped"])], bool)
    all_right, all_copied = np.zeros(len(validation), bool), np.zeros(len(validation), bool)
    all_right[val["index"]], all_copied[val["index"]] = val["right"], copied
    written_all, copy_all = rouge_l(written, validation), np.zeros(len(validation))
    copy_all[val["index"]] = val["shipped_score"]
    return {"rows": len(validation), "copied": int(all_copied.sum()), "right_rows": int(all_right.sum()),
            **precision_recall(all_copied, all_right),
            "gated_rougeL": float(np.where(all_copied, copy_all, written_all).mean()),
            "written_rougeL": float(written_all.mean()), "copied_rougeL": float(copy_all.mean()),
            "oracle_rougeL": float(np.maximum(copy_all, written_all).mean())}


def thin(curve: list[dict], points: int = 200) -> list[dict]:
    """At most `points` of a curve, evenly by rank (the first and last kept): enough to draw, small to store."""
    if len(curve) <= points:
        return curve
    keep = np.unique(np.linspace(0, len(curve) - 1, points).round().astype(int))
    return [curve[i] for i in keep]


def read(path: Path) -> Gate:
    return Gate.from_json(json.loads(Path(path).read_text()), str(path))
