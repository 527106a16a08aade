"""No single row stops the pipeline: titles of 600 characters of long made-up words with digits (as trn.json's longest
are), whose neighbours' descriptions fill data.max_content_chars, go through every stage. Each stage finishes, cuts
the title by the one rule (prompt.max_title_tokens, at a word boundary) and counts it."""

from __future__ import annotations

import json

import pytest

from conftest import make_cfg, row, write_lines
from descgen import app, baseline, compare, describe, modeling, prepare, stages, train
from descgen.predictor import Predictor

WORDS = ["hgmtonor43", "jvohamqcmnr", "rcwhtsmvjq80", "vvfuqfxjym39", "ghydfkeqz", "zorbwattle7", "quintarvex",
         "pelmondraxi12", "fyxquorbant", "tralvinoquex5"]


def long_title(seed: int) -> str:
    """600 characters of long made-up words with digits, the first two shared by a family so that neighbours exist."""
    words = [WORDS[(seed + i * 3) % len(WORDS)] + str(i * seed % 97) for i in range(80)]
    return ("Tutu " + WORDS[seed % 3] + " " + " ".join(words))[:600].rstrip()


def filler(i: int, limit: int) -> str:
    """A description at data.max_content_chars: whole sentences, then cut at the limit by prepare."""
    return (f"Product {i} is a sturdy, well made thing that does exactly what its title promises. " * 8)[:limit + 40]


@pytest.fixture(scope="module")
def long_run(tmp_path_factory, tiny_model_dir):
    """The smoke profile on a file where 10 of 70 described rows have 600-character titles: prepare (token lengths,
    word clouds), training, baseline, compare; then describe and the page on another such title."""
    tmp = tmp_path_factory.mktemp("long")
    limit = 400
    lines = [row(f"L{i}", long_title(i), f"This tutu number {i} is long. " + filler(i, limit)) for i in range(10)]
    lines += [row(f"N{i}", f"Tutu {WORDS[i % 3]} {WORDS[(i + 4) % 10]} Neighbour {i}", filler(100 + i, limit))
              for i in range(30)]
    lines += [row(f"F{i}", f"Plain product {i} Ballet Tutu", filler(200 + i, limit)) for i in range(30)]
    data = write_lines(tmp / "long.json", lines)
    cfg = make_cfg(tmp, f"data.path={data}", "data.n_train=40", "data.n_validation=8", "data.n_test=10",
                   f"data.max_content_chars={limit}", "data.workers=1", "retrieval.k=1", "train.max_steps=2",
                   "train.eval_steps=2", "train.save_steps=2", "eval.max_new_tokens=8", model_dir=tiny_model_dir)
    result = prepare.run(cfg)
    tokenizer = modeling.load_tokenizer(cfg)
    lengths = prepare.token_lengths(cfg, tokenizer, result.sample)
    clouds = prepare.word_clouds(cfg, result.sample)
    baseline_metrics = baseline.run(cfg)
    training = train.run(cfg)
    report = compare.run(cfg)
    return cfg, result, lengths, clouds, baseline_metrics, training, report


def is_long(title: str) -> bool:
    return len(title) > 300


def test_prepare_counts_the_cut_titles_of_its_token_length_sample_and_draws_its_word_clouds(long_run):
    cfg, result, lengths, clouds, *_ = long_run
    long_rows = sum(is_long(r["title"]) for r in result.sample)
    assert long_rows >= 1 and len(lengths) == len(result.sample)
    report = json.loads(stages.path(cfg, "prepare_report").read_text())
    assert report["token_lengths"] == {"rows": len(result.sample), "titles_cut": long_rows, "rows_skipped": 0,
                                       "max_title_tokens": cfg.prompt.max_title_tokens}
    assert lengths.max() <= cfg.train.max_seq_len + 400  # untruncated lengths: a cut title, a whole description
    assert clouds["title"]["png"].exists() and clouds["content"]["png"].exists()


def test_training_counts_the_cut_titles_and_trains(long_run):
    cfg, result, _, _, _, training, _ = long_run
    assert training["titles_cut"]["train"] == sum(is_long(r["title"]) for r in stages.read_split(cfg, "train")) >= 1
    assert training["rows_skipped"] == {"train": 0, "validation": 0}
    assert training["final_step"] == 2 and training["train_rows"] == 40


def test_baseline_and_compare_cut_the_test_rows_titles_and_score_every_row(long_run):
    cfg, *_, baseline_metrics, _, report = long_run
    test_rows = stages.read_split(cfg, "test")
    long_rows = sum(is_long(r["title"]) for r in test_rows)
    assert long_rows >= 1 and baseline_metrics["titles_cut"] == long_rows
    assert report["n"] == len(test_rows) == 10
    finetuned = json.loads(stages.path(cfg, "finetuned_metrics").read_text())
    assert finetuned["titles_cut"] == long_rows
    gated = [json.loads(line) for line in stages.path(cfg, "gated_predictions").read_text().splitlines()]
    assert len(gated) == 10


def test_describe_and_the_page_cut_a_long_title_and_say_so(long_run, tmp_path):
    cfg = long_run[0]
    title = long_title(11)
    source = write_lines(tmp_path / "in.json", [row("X1", title, ""), row("X2", "Plain Ballet Tutu", "")])
    out = tmp_path / "out.jsonl"
    args = describe.parse_args(["--input", str(source), "--output", str(out), "--missing-only"])
    summary = describe.run(cfg, args)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["rows_written"] == 2 and summary["titles_truncated"] == 1
    assert rows[0]["title_truncated"] and rows[0]["title"] == title and "title_truncated" not in rows[1]
    shown = app.describe_title(Predictor.load(cfg, adapter=True), title)
    assert shown.message == "" and shown.notes == [
        f"The title was cut to its first {cfg.prompt.max_title_tokens} tokens (prompt.max_title_tokens), as describe "
        "cuts it."]
    assert title.startswith(shown.title) and len(shown.title) < len(title)
