"""The copy-or-write gate: the arithmetic of the decision, its features and fit on free catalogue labels, the copy
adapted to its variant, and the gate as shipped (compare's `gated` is describe's default output)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from descgen import gate, retrieval
from descgen.gate import Gate


def a_gate(**scores) -> Gate:
    values = dict(copy_right=0.86, copy_wrong=0.11, write_right=0.30, write_wrong=0.14)
    values.update(scores)
    n = len(gate.FEATURES)
    return Gate(mean=[0.0] * n, scale=[1.0] * n, coef=[4.0] + [0.0] * (n - 1),
                intercept=-2.0, **values)


def test_copying_pays_above_the_chance_where_expected_scores_cross():
    # a right copy gains 0.86 - 0.30 = 0.56 over writing; a wrong one loses 0.14 - 0.11 = 0.03: copy above 0.03 / 0.59
    assert a_gate().threshold == pytest.approx(0.03 / 0.59)
    assert a_gate(copy_wrong=0.20).threshold == 0.0           # a wrong copy still beats writing: always copy
    assert a_gate(copy_right=0.25).threshold == float("inf")  # writing beats even a right copy: never copy
    g = a_gate()
    x = np.zeros((3, len(gate.FEATURES)))
    x[:, 0] = [-5.0, 0.0, 5.0]  # p = sigmoid(4x - 2): ~0, 0.12, ~1
    decided = g.decide(x)
    assert [d["copy"] for d in decided] == [False, True, True]
    for d in decided:
        assert d["copy"] == (d["expected_copy"] > d["expected_write"]) == (d["p"] > g.threshold)


def test_a_gate_round_trips_through_plain_json_and_refuses_other_code():
    g = a_gate()
    data = json.loads(json.dumps(g.to_json()))
    assert Gate.from_json(data).to_json() == g.to_json()
    with pytest.raises(ValueError, match="run the compare stage again"):
        Gate.from_json(dict(data, features=["similarity"]))


def family_catalogue(families: int = 60, singles: int = 240, seed: int = 0) -> list[dict]:
    """Product lines (3 colours of one product sharing its text, naming the colour) and stand-alone products."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(400)]
    colours = ["Red", "Blue", "Green", "Black"]
    rows = []
    for f in range(families):
        core = " ".join(rng.choice(words, 4))
        blurb = " ".join(rng.choice(words, 30))
        for colour in colours[:3]:
            rows.append({"uid": f"f{f}{colour}", "title": f"Acme{f} {core} {colour}",
                         "content": f"This {colour.lower()} {core} is made to last. {blurb}"})
    for s in range(singles):
        rows.append({"uid": f"s{s}", "title": " ".join(rng.choice(words, 5)), "content": " ".join(rng.choice(words, 30))})
    return rows


def test_the_gate_learns_from_free_labels_to_copy_siblings_and_write_elsewhere(tmp_path):
    from conftest import make_cfg

    cfg = make_cfg(tmp_path, "eval.seed=3")
    rows = family_catalogue()
    source = retrieval.NeighbourSource.of_rows(rows)
    validation = [{"uid": "v1", "title": "Acme1 " + rows[3]["title"].split(" ", 1)[1].rsplit(" ", 1)[0] + " Black",
                   "content": rows[3]["content"].replace("red", "black")},
                  {"uid": "v2", "title": "w1 w2 w3 w4 w5", "content": "w9 " * 30}]
    fitted = gate.fit(cfg, source, validation, written=["a written text", "w9 " * 20])
    report = fitted.report
    assert report["labelled_rows"] == len(rows) and 0.3 < report["right_share"] < 0.7  # 180 of 420 rows have siblings
    assert report["cv_auc"] > 0.9 and report["cv_precision"] > 0.9 and report["cv_recall"] > 0.9
    assert sum(b["rows"] for b in report["calibration"]) == len(rows)
    assert fitted.copy_right > 0.8 and fitted.copy_wrong < 0.3
    near = source.nearest(validation, 5)
    p = fitted.probability(np.stack([gate.features(v["title"], n, source.description_rows)
                                     for v, n in zip(validation, near)]))
    assert p[0] > 0.9 > 0.1 > p[1]
    assert report["validation"]["copied"] == 1 and report["validation"]["rows"] == 2
