"""Copy or write: for each product, copy the nearest catalogue row's description (made this product's:
descgen/copyedit.py) or let the fine-tune write one, whichever is expected to score better.

The decision is about expected scores, not accuracy. On real rows a right copy (a sibling's description, a series'
blurb) scores ROUGE-L ~0.86 where the model writes ~0.3, and a wrong copy loses only ~0.03 against writing: copying
pays whenever the chance that the nearest description fits is above ~5 %. So the gate is

    p = P(the nearest description fits | features)            a logistic regression, fitted on catalogue rows
    copy  iff  p·copy_right + (1−p)·copy_wrong  >  p·write_right + (1−p)·write_wrong

where copy_right / copy_wrong are the mean ROUGE-L of a copy that fits / does not (from the same catalogue rows), and
write_right / write_wrong the fine-tune's mean ROUGE-L on validation rows whose nearest description fits / does not.
"Fits" is eval.near_copy_rougeL (0.5), compare's near-copy bucket. **The gate decides on the texts it ships**: every
copy it scores is the copy it would publish (`copyedit.copy_for`: adapted to the variant, the facts this title does
not state replaced by the title's or dropped), and the written side is the fine-tune's text as shipped
(`copyedit.written_for`). A copy left empty by dropping is never shipped: that row is written.

**Labels are free.** A catalogue row's nearest other row's description, made that row's as it would be shipped and
scored against its own description, is exactly what a copy would score there: no generation. The gate is fitted on up to LABEL_ROWS such rows (the whole catalogue
of the bundled sample; a seeded sample of 1.3 M), cross-validated (5 folds) for its report, and its operating point
is checked on the validation split. It is stored beside the adapter (the `gate` artifact: plain JSON numbers, no
pickle), so
describe, the demo and the web app use the gate of the adapter they load.

**Features** of (title, its nearest rows): the nearest similarity and its gap to the second, how many catalogue rows
share the nearest description (a series blurb is on dozens), how many of the other nearest rows have that same
description, the share of the title's words the nearest description contains, the share of the nearest row's own
title words its description contains (a product-specific text names its product; a blurb does not), the two titles'
length ratio, whether their first words (usually the brand) match, and the share of the copy that is left once the
facts this title does not state are dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .copyedit import Edited, copy_for

FEATURES = ("similarity", "gap", "description_rows", "agreeing_neighbours", "title_words_in_description",
            "own_title_in_description", "title_length_ratio", "first_word_match", "kept_share")
LABEL_ROWS = 20_000   # catalogue rows the gate learns from (each a labelled pair at no generation cost)
FORMAT = 2  # 2: the copy scored and shipped is the fact-cleaned one (copyedit), and its kept share a feature
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def features(title: str, near: list[dict], description_rows: np.ndarray, copy: Edited | None = None) -> np.ndarray:
    """The gate's features for a title and its nearest catalogue rows ({title, content, similarity, row,
    content_hash}, best first; at least one). `description_rows`: per catalogue row, how many rows share its
    description. `copy`: the nearest description as it would be shipped (`copy_for`; made here when not given)."""
    first = near[0]
    second = near[1]["similarity"] if len(near) > 1 else 0.0
    title_words, neighbour_words = words(title), words(first["title"])
    content_words = set(words(first["content"]))
    agreeing = sum(n["content_hash"] == first["content_hash"] for n in near[1:]) / max(len(near) - 1, 1)
    return np.array([
        first["similarity"],
        first["similarity"] - second,
        np.log1p(description_rows[first["row"]]),
        agreeing,
        np.mean([w in content_words for w in title_words]) if title_words else 0.0,
        np.mean([w in content_words for w in neighbour_words]) if neighbour_words else 0.0,
        np.log((len(title_words) + 1) / (len(neighbour_words) + 1)),
        float(bool(title_words) and bool(neighbour_words) and title_words[0] == neighbour_words[0]),
        # the share of the copy left once the facts this title does not state are dropped: a copy cut in half is
        # another product's text, or scores less even where it fits
        (copy or copy_for(first["content"], first["title"], title)).kept_share,
    ], dtype=np.float64)


@dataclass
class Gate:
    """A fitted gate: standardisation, logistic coefficients and the four mean scores the decision weighs."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    copy_right: float
    copy_wrong: float
    write_right: float
    write_wrong: float
    report: dict = field(default_factory=dict)

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(x) - np.array(self.mean)) / np.array(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.array(self.coef) + self.intercept)))

    @property
    def threshold(self) -> float:
        """The probability above which copying is expected to score more than writing (0: always; >1: never)."""
        gain, loss = self.copy_right - self.write_right, self.write_wrong - self.copy_wrong
        if gain <= 0 and loss >= 0:
            return float("inf")
        if loss <= 0 and gain >= 0:
            return 0.0
        return loss / (gain + loss)

    def expected(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(expected copy score, expected written score) at probability p."""
        return (p * self.copy_right + (1 - p) * self.copy_wrong, p * self.write_right + (1 - p) * self.write_wrong)

    def decide(self, x: np.ndarray) -> list[dict]:
        """For each feature row: copy or not, p, and the two expected scores."""
        p = self.probability(x)
        copy_score, write_score = self.expected(p)
        return [{"copy": bool(c > w), "p": float(q), "expected_copy": float(c), "expected_write": float(w)}
                for q, c, w in zip(p, copy_score, write_score)]

    def to_json(self) -> dict:
        return {"format": FORMAT, "features": list(FEATURES), "mean": self.mean, "scale": self.scale,
                "coef": self.coef, "intercept": self.intercept, "copy_right": self.copy_right,
                "copy_wrong": self.copy_wrong, "write_right": self.write_right, "write_wrong": self.write_wrong,
                "threshold": self.threshold, "report": self.report}

    @classmethod
    def from_json(cls, data: dict, where: str = "the gate file") -> "Gate":
        if data.get("format") != FORMAT or data.get("features") != list(FEATURES):
            raise ValueError(f"{where} was written by other code (format {data.get('format')}, features "
                             f"{data.get('features')}): run the compare stage again")
        return cls(**{k: data[k] for k in ("mean", "scale", "coef", "intercept", "copy_right", "copy_wrong",
                                            "write_right", "write_wrong")}, report=data.get("report", {}))


def fit_probability(x: np.ndarray, right: np.ndarray, seed: int) -> tuple[dict, dict]:
    """A logistic regression of "the nearest description fits" on the features, standardised; with its 5-fold
    cross-validated report (log-loss, AUC, and the calibration: predicted against observed per probability bin)."""
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


def mean_or(values: np.ndarray, fallback: float) -> float:
    return float(values.mean()) if len(values) else fallback


def copies(rows: list[dict], near: list[list[dict]]) -> list[Edited | None]:
    """Each row's nearest description as the gate would ship it (`copy_for`: adapted, facts this title does not
    state replaced or dropped); None where no row shares a word with the title."""
    return [copy_for(n[0]["content"], n[0]["title"], r["title"]) if n else None for r, n in zip(rows, near)]


def copy_scores(rows: list[dict], shipped: list[Edited | None]) -> np.ndarray:
    """ROUGE-L of each row's shipped copy against its own description: what a copy scores there (0 where there is
    none)."""
    from .evaluation import rouge_scores

    texts = [c.text if c is not None else "" for c in shipped]
    return np.array([s["rougeL"] for s in rouge_scores(texts, [r["content"] for r in rows])])


def fit(cfg, source, validation: list[dict], written: list[str]) -> Gate:
    """The gate for this catalogue and this fine-tune: the probability model from up to LABEL_ROWS catalogue rows
    (a seeded sample; each row's neighbours as a product outside the splits would not see them: never itself, nor
    the held-out rows), the copy side's mean scores from the same rows, the write side's from the fine-tune's texts
    for the validation rows as shipped (`written`), and its operating point on those rows."""
    threshold, k = cfg.eval.near_copy_rougeL, cfg.retrieval.candidates
    rng = np.random.default_rng(cfg.eval.seed)
    shown = source.catalogue.catalogue_rows
    picked = np.sort(rng.choice(shown, size=min(LABEL_ROWS, shown), replace=False))
    rows = source.catalogue.rows(picked)
    near = source.nearest(rows, k)
    labelled = [i for i, n in enumerate(near) if n]
    rows, near = [rows[i] for i in labelled], [near[i] for i in labelled]
    shipped = copies(rows, near)
    x = np.stack([features(r["title"], n, source.description_rows, c) for r, n, c in zip(rows, near, shipped)])
    scores = copy_scores(rows, shipped)
    right = scores >= threshold
    probability, report = fit_probability(x, right, cfg.eval.seed)

    val_near = source.nearest(validation, k, "validation")
    val_shipped = copies(validation, val_near)
    val_copy = copy_scores(validation, val_shipped)
    val_write = np.array([s["rougeL"] for s in _rouge(written, [r["content"] for r in validation])])
    val_right = val_copy >= threshold
    gate = Gate(**probability, copy_right=mean_or(scores[right], threshold), copy_wrong=mean_or(scores[~right], 0.0),
                write_right=mean_or(val_write[val_right], float(val_write.mean())),
                write_wrong=mean_or(val_write[~val_right], float(val_write.mean())), report=report)
    if "cv_probability" in report:  # the cross-validated policy on the labelled rows, the write side as expected
        p = np.array(report.pop("cv_probability"))
        copy_expected, write_expected = gate.expected(p)
        copied = copy_expected > write_expected
        report["cv_copied_share"] = float(copied.mean())
        report["cv_precision"] = float(right[copied].mean()) if copied.any() else None
        report["cv_recall"] = float(copied[right].mean()) if right.any() else None
    decided = [gate.decide(features(r["title"], n, source.description_rows, c)[None])[0]["copy"] and bool(c.text)
               if n else False for r, n, c in zip(validation, val_near, val_shipped)]
    decided = np.array(decided, bool)
    report["validation"] = {"rows": len(validation), "copied": int(decided.sum()),
                            "gated_rougeL": float(np.where(decided, val_copy, val_write).mean()),
                            "written_rougeL": float(val_write.mean()), "copied_rougeL": float(val_copy.mean()),
                            "oracle_rougeL": float(np.maximum(val_copy, val_write).mean()),
                            "right_rows": int(val_right.sum())}
    report["labelled_rows_sampled_from"] = int(shown)
    return gate


def _rouge(predictions: list[str], references: list[str]) -> list[dict]:
    from .evaluation import rouge_scores

    return rouge_scores(predictions, references)


def read(path: Path) -> Gate:
    return Gate.from_json(json.loads(Path(path).read_text()), str(path))
