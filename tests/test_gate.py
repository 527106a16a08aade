"""The copy-or-write gate: the arithmetic of the decision, its features and fit on free catalogue labels, the copy
adapted to its variant, and the gate as shipped (compare's `gated` is describe's default output)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from descgen import gate, retrieval
from descgen.gate import Gate


def a_gate(precision_threshold: float = 0.0, **scores) -> Gate:
    values = dict(copy_right=0.86, copy_wrong=0.11, write_right=0.30, write_wrong=0.14)
    values.update(scores)
    n = len(gate.FEATURES)
    return Gate(mean=[0.0] * n, scale=[1.0] * n, coef=[4.0] + [0.0] * (n - 1),
                intercept=-2.0, precision_threshold=precision_threshold, **values)


def test_the_expected_score_rule_copies_above_the_chance_where_expected_scores_cross():
    # a right copy gains 0.86 - 0.30 = 0.56 over writing; a wrong one loses 0.14 - 0.11 = 0.03: copy above 0.03 / 0.59
    assert a_gate().score_threshold == pytest.approx(0.03 / 0.59)
    assert a_gate(copy_wrong=0.20).score_threshold == 0.0           # a wrong copy still beats writing: always
    assert a_gate(copy_right=0.25).score_threshold == float("inf")  # writing beats even a right copy: never copy
    g = a_gate()
    x = np.zeros((3, len(gate.FEATURES)))
    x[:, 0] = [-5.0, 0.0, 5.0]  # p = sigmoid(4x - 2): ~0, 0.12, ~1
    decided = g.decide(x)
    assert [d["copy"] for d in decided] == [False, True, True]
    for d in decided:
        assert d["copy"] == (d["expected_copy"] > d["expected_write"]) == (d["p"] > g.score_threshold)


def test_the_precision_promise_copies_only_from_its_threshold_on_whatever_the_metric_says():
    # ROUGE-L alone would copy at p > 0.05; the promise asks p >= 0.8
    g = a_gate(precision_threshold=0.8)
    assert g.threshold == 0.8
    x = np.zeros((4, len(gate.FEATURES)))
    x[:, 0] = [0.0, 0.8, 0.85, 5.0]  # p ≈ 0.12, 0.78, 0.82, 1.0
    assert [d["copy"] for d in g.decide(x)] == [False, False, True, True]
    # where the metric asks more than the promise, the metric's threshold holds
    assert a_gate(precision_threshold=0.01, copy_right=0.35).threshold == pytest.approx(0.03 / (0.05 + 0.03))
    assert "90% precision" in a_gate(precision_threshold=0.8, min_precision=0.9).promise()


def test_the_operating_point_is_the_lowest_threshold_keeping_the_promise_above_it():
    p = np.array([0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    right = np.array([1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0], bool)
    curve = gate.precision_curve(p, right)
    assert [c["threshold"] for c in curve][:3] == [0.99, 0.95, 0.9]  # a tie is one point
    at = {c["threshold"]: c for c in curve}
    assert at[0.9]["copied"] == 4 and at[0.9]["precision"] == 1.0 and at[0.9]["recall"] == 4 / 8
    assert at[0.5]["precision"] == 7 / 8 and at[0.5]["recall"] == 7 / 8
    point = gate.operating_point(curve, 0.85, min_copies=2)
    assert point["threshold"] == 0.5  # 7 of 8 copies right: 0.875 >= 0.85; at 0.4, 7 of 9
    assert gate.operating_point(curve, 1.0, min_copies=2)["threshold"] == 0.7      # every copy from 0.7 up is right
    assert gate.operating_point(curve, 1.01, min_copies=2)["threshold"] == float("inf")  # unreachable: never copy
    assert gate.operating_point(curve, 0.85, min_copies=9)["threshold"] == float("inf")  # too few rows to promise


def test_the_promise_is_the_precision_of_the_copies_a_threshold_makes_not_of_every_set_above_it():
    # the top ten include three wrong (0.7) before a run of right ones: at 20 copies 17 are right (0.85 >= 0.8), so
    # copying all 20 keeps the promise, and a few confident wrong copies do not forbid copying altogether
    p = np.linspace(1.0, 0.05, 20)
    right = np.array([1, 0, 0, 0, 1, 1, 1, 1, 1, 1] + [1] * 10, bool)
    curve = gate.precision_curve(p, right)
    assert curve[-1]["precision"] == 17 / 20
    assert gate.operating_point(curve, 0.8)["threshold"] == pytest.approx(0.05)
    assert gate.operating_point(curve, 0.9)["threshold"] == float("inf")  # no set of 10 or more is right 90 %


def test_precision_and_recall_come_with_wilson_intervals():
    found = gate.precision_recall(np.array([1, 1, 1, 0, 0], bool), np.array([1, 1, 0, 1, 0], bool))
    assert found["precision"]["value"] == 2 / 3 and found["precision"]["n"] == 3
    assert found["recall"]["value"] == 2 / 3 and found["copied_share"]["value"] == 3 / 5
    assert 0 < found["precision"]["ci_low"] < 2 / 3 < found["precision"]["ci_high"] < 1
    assert gate.proportion(0, 0)["value"] is None


def test_a_gate_round_trips_through_plain_json_and_refuses_other_code():
    g = a_gate(precision_threshold=0.7)
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
        blurb = " ".join(rng.choice(words, 30)).capitalize() + "."  # a whole sentence, as prepare leaves them
        for colour in colours[:3]:
            rows.append({"uid": f"f{f}{colour}", "title": f"Acme{f} {core} {colour}",
                         "content": f"This {colour.lower()} {core} is made to last. {blurb}"})
    for s in range(singles):
        rows.append({"uid": f"s{s}", "title": " ".join(rng.choice(words, 5)),
                     "content": " ".join(rng.choice(words, 30)).capitalize() + "."})
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
    assert report["cv_auc"] > 0.9 and report["cv_precision"] >= fitted.min_precision and report["cv_recall"] > 0.9
    assert report["operating_point"]["precision"] >= 0.9 and fitted.precision_threshold < 1
    assert sum(b["rows"] for b in report["calibration"]) == len(rows)
    assert fitted.copy_right > 0.8 and fitted.copy_wrong < 0.3
    near = source.nearest(validation, 5)
    p = fitted.probability(np.stack([gate.features(v, n, source.description_rows)
                                     for v, n in zip(validation, near)]))
    assert p[0] > 0.9 > 0.1 > p[1]
    assert report["validation"]["copied"] == 1 and report["validation"]["rows"] == 2
    assert report["validation"]["precision"]["value"] == 1.0 and report["validation"]["recall"]["value"] == 1.0
