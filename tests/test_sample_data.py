"""The bundled sample stands in for the real trn.json: it is what its generator writes, and on the cpu profile's
splits it has the real file's retrieval statistics (measured on 350 / 120 real rows): ~14 % of test rows
find a differently titled sibling with their description in train (copying it scores ~0.84), and elsewhere the
nearest title's description is another product's text."""

import numpy as np
import pytest

from descgen import prepare, retrieval, sample_data
from descgen.config import REPO_ROOT
from descgen.evaluation import rouge_scores

from conftest import make_cfg

SAMPLE = REPO_ROOT / "dataset" / "sample" / "trn.json"


def test_the_bundled_file_is_what_the_generator_writes():
    assert SAMPLE.read_bytes() == b"\n".join(sample_data.generate_lines()) + b"\n"


@pytest.fixture(scope="module")
def floor_on_cpu_splits(tmp_path_factory):
    """The retrieval floor's ROUGE-L per test row of the cpu profile's splits, and each row's nearest neighbour."""
    cfg = make_cfg(tmp_path_factory.mktemp("sample"), profile="cpu")
    splits = prepare.run(cfg).splits
    train, test = splits["train"], splits["test"]
    # the train split's rows alone (retrieval.source: train), as the real-row figures were measured
    (nearest,) = zip(*retrieval.NeighbourSource.of_rows(train).nearest(test, 1))
    scores = np.array([s["rougeL"] for s in rouge_scores([n["content"] for n in nearest], [r["content"] for r in test])])
    return test, nearest, scores


def test_about_one_test_row_in_seven_has_a_sibling_in_train_and_copying_it_is_nearly_right(floor_on_cpu_splits):
    test, nearest, scores = floor_on_cpu_splits
    near = scores >= 0.5
    assert 0.08 <= near.mean() <= 0.20
    assert scores[near].mean() >= 0.8
    # a sibling has another title (another variant), and most siblings' descriptions name their own variant, so
    # fewer are exact copies than near copies
    assert all(n["title"] != r["title"] for r, n, s in zip(test, nearest, scores) if s >= 0.5)
    assert 0 < sum(n["content"] == r["content"] for r, n in zip(test, nearest)) < near.sum()


def test_elsewhere_the_nearest_title_describes_another_product(floor_on_cpu_splits):
    _, _, scores = floor_on_cpu_splits
    novel = scores[scores < 0.5]
    assert novel.mean() <= 0.35  # real rows: 0.11; the sample's small vocabulary shares more function words
    assert np.mean(novel < 0.2) > 0.05
