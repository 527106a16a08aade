"""Retrieval: who may be a row's neighbour, how neighbours enter the prompt and its token budget, and the index
prepare hands on."""

import json

import numpy as np
import pytest

from descgen import modeling, predictor, prepare, retrieval, stages
from descgen.prompts import answer_tokens, encode_example, encode_prompt, prompt_text

from conftest import make_cfg

TRAIN = [
    {"uid": "t1", "title": "Girls Ballet Tutu Neon Pink", "content": "A pink tulle tutu for dance class."},
    {"uid": "t2", "title": "Girls Ballet Tutu Lavender", "content": "A pink tulle tutu for dance class."},  # sibling
    {"uid": "t3", "title": "Cast Iron Skillet 10 Inch", "content": "Pre-seasoned cast iron for searing."},
    {"uid": "t4", "title": "girls ballet tutu, neon pink!", "content": "Same title, other punctuation."},
    {"uid": "t5", "title": "Stainless Steel French Press 34 oz", "content": "Rich coffee in four minutes."},
]


def source_of(rows):
    return retrieval.NeighbourSource(retrieval.build(rows), rows)


def test_a_row_never_sees_itself_nor_a_row_with_its_normalised_title():
    index = retrieval.build(TRAIN)
    (near,) = retrieval.neighbours(index, TRAIN, [TRAIN[0]], k=4)
    uids = [n["uid"] for n in near]
    assert "t1" not in uids and "t4" not in uids  # itself, and "girls ballet tutu, neon pink!"
    assert uids[0] == "t2"  # the sibling with another title and the same description is a legitimate neighbour
    assert [n["similarity"] for n in near] == sorted((n["similarity"] for n in near), reverse=True)


def test_a_new_title_retrieves_its_family_first():
    index = retrieval.build(TRAIN)
    (near,) = retrieval.neighbours(index, TRAIN, [{"title": "Toddler Ballet Tutu Neon Pink"}], k=2)
    assert {n["uid"] for n in near} <= {"t1", "t2", "t4"} and near[0]["similarity"] > 0.3


def test_top_k_breaks_ties_by_index_like_a_stable_sort():
    rng = np.random.default_rng(0)
    for _ in range(500):
        scores = rng.integers(0, 4, rng.integers(1, 20)).astype(float)
        k = int(rng.integers(0, 6))
        assert retrieval.top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


def test_k_zero_leaves_rows_and_the_prompt_as_they_were(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "retrieval.k=0", model_dir=tiny_model_dir)
    tokenizer = modeling.load_tokenizer(cfg)
    rows = [dict(TRAIN[0])]
    attached = retrieval.attach(cfg, tokenizer, rows, source_of(TRAIN))
    assert attached is rows
    assert prompt_text(tokenizer, cfg.prompt, attached[0]) == (
        "<|user|>Write the Amazon product description for this product.\n\nTitle: Girls Ballet Tutu Neon Pink"
        "<|end|><|assistant|>")


def test_neighbours_come_before_the_title_with_their_labels(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "retrieval.k=1", model_dir=tiny_model_dir)
    tokenizer = modeling.load_tokenizer(cfg)
    (row,) = retrieval.attach(cfg, tokenizer, [{"uid": "q", "title": "Toddler Ballet Tutu Neon Pink"}],
                              source_of(TRAIN))
    assert prompt_text(tokenizer, cfg.prompt, row) == (
        "<|user|>Write the Amazon product description for this product.\n\n"
        f"Similar product: {row['neighbours'][0]['title']}\nIts description: A pink tulle tutu for dance class.\n\n"
        "Title: Toddler Ballet Tutu Neon Pink<|end|><|assistant|>")


def test_neighbours_are_cut_to_the_budget_and_never_the_answer(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "retrieval.k=3", "retrieval.description_tokens=12", model_dir=tiny_model_dir)
    tokenizer = modeling.load_tokenizer(cfg)
    long_train = [dict(r, content=r["content"] + " It is lovely." * 40) for r in TRAIN]
    row = {"uid": "q", "title": "Toddler Ballet Tutu Neon Pink", "content": "A tutu. " * 12}
    (fitted,) = retrieval.attach(cfg, tokenizer, [row], source_of(long_train), for_training=True)
    assert 1 <= len(fitted["neighbours"]) <= 3
    for n in fitted["neighbours"]:
        assert len(tokenizer(n["content"], add_special_tokens=False)["input_ids"]) <= 12
    example = encode_example(tokenizer, cfg.prompt, fitted, cfg.train.max_seq_len)
    assert not example.truncated  # the answer kept all its tokens and its end tokens
    # a budget too small for any neighbour: none are shown, the answer still fits
    tight = make_cfg(tmp_path, "retrieval.k=3", "train.max_seq_len=60", model_dir=tiny_model_dir)
    (bare,) = retrieval.attach(tight, tokenizer, [row], source_of(long_train), for_training=True)
    assert bare["neighbours"] == [] or len(encode_prompt(tokenizer, tight.prompt, bare)) + answer_tokens(
        tokenizer, tight.prompt, bare) <= 60


def test_generation_prompts_leave_room_for_max_new_tokens(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "retrieval.k=2", model_dir=tiny_model_dir)
    tokenizer = modeling.load_tokenizer(cfg)
    long_train = [dict(r, content=r["content"] + " It is lovely." * 40) for r in TRAIN]
    (row,) = retrieval.attach(cfg, tokenizer, [{"title": "Toddler Ballet Tutu"}], source_of(long_train))
    assert row["neighbours"]
    assert len(encode_prompt(tokenizer, cfg.prompt, row)) <= cfg.train.max_seq_len - cfg.eval.max_new_tokens


def test_min_similarity_drops_far_neighbours(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "retrieval.k=4", "retrieval.min_similarity=0.99", model_dir=tiny_model_dir)
    tokenizer = modeling.load_tokenizer(cfg)
    (row,) = retrieval.attach(cfg, tokenizer, [{"title": "Cast Iron Pan"}], source_of(TRAIN))
    assert row["neighbours"] == []


def test_prepare_writes_the_index_and_a_changed_train_split_rebuilds_it(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, model_dir=tiny_model_dir)
    prepare.run(cfg)
    index_file = stages.path(cfg, "retrieval_index")
    train_rows = stages.read_split(cfg, "train")
    written = index_file.read_bytes()
    assert retrieval.load(cfg, train_rows).uids == [r["uid"] for r in train_rows]
    assert index_file.read_bytes() == written  # reused, not rebuilt
    changed = train_rows[1:]
    stages.path(cfg, "train_split").write_text("".join(json.dumps(r) + "\n" for r in changed))
    assert retrieval.load(cfg, changed).uids == [r["uid"] for r in changed]
    assert index_file.read_bytes() != written  # rebuilt for the split it now describes


def test_the_floor_copies_the_nearest_title_through_the_index():
    from descgen import evaluation

    floor = evaluation.retrieval_floor(source_of(TRAIN), [{"uid": "q", "title": "Cast Iron Skillet 12 Inch"}])
    assert floor[0]["uid"] == "t3"


def test_training_with_neighbours_shows_them_and_reports_it(compared_bf16):
    _, report, _ = compared_bf16
    assert report["retrieval_k"] == 1 and 0 < report["train_neighbours_shown"] <= report["train_rows"]
    assert report["train_rows_truncated"] == 0 or report["train_rows_truncated"] < report["train_rows"]


def test_compare_json_scores_every_system_alike_with_neighbours(compared_bf16):
    cfg, _, report = compared_bf16
    assert set(report["models"]) == {"baseline", "baseline_rag", "finetuned", "retrieval", "gated"}
    assert set(report["vs_baseline"]) == {"baseline_rag", "finetuned", "retrieval", "gated"}
    assert set(report["vs_retrieval"]) == {"baseline", "baseline_rag", "finetuned", "gated"}
    gated = [json.loads(line) for line in open(stages.path(cfg, "gated_predictions"))]
    assert sum(g["copied"] for g in gated) == report["gate"]["copied_test_rows"]
    assert all(g["similarity"] >= report["gate"]["threshold"] for g in gated if g["copied"])
    for table in (report["delta"], report["delta_vs_retrieval"], *report["vs_baseline"].values(),
                  *report["vs_retrieval"].values()):
        for ci in table.values():
            assert ci["ci_low"] <= ci["mean"] <= ci["ci_high"]
    split = report["by_novelty"]
    assert split["near_copy"]["n"] + split["novel"]["n"] == report["n"] == cfg.data.n_test
    predictions = [json.loads(line) for line in open(stages.path(cfg, "finetuned_predictions"))]
    assert all(len(p["neighbours"]) == 1 for p in predictions)
    assert stages.path(cfg, "baseline_rag_predictions").exists()


def test_without_neighbours_there_is_no_baseline_rag(trained_cfg):
    from descgen import baseline, compare

    baseline.run(trained_cfg)
    report = compare.run(trained_cfg)
    assert "baseline_rag" not in report["models"] and report["retrieval_k"] == 0
    assert set(report["by_novelty"]["novel"]["models"]) | set(report["by_novelty"]["near_copy"]["models"]) >= {
        "baseline", "finetuned", "retrieval"}


def test_the_gate_copies_only_above_the_threshold_that_scores_best_on_validation():
    from descgen.compare import best_threshold

    similarity = np.array([0.9, 0.8, 0.3, 0.2])
    copied = np.array([1.0, 0.9, 0.0, 0.1])   # siblings copy well, far rows do not
    wrote = np.array([0.3, 0.3, 0.3, 0.3])
    assert best_threshold(similarity, copied, wrote) == (0.8, pytest.approx((1.0 + 0.9 + 0.3 + 0.3) / 4))
    assert best_threshold(similarity, copied * 0, wrote)[0] == float("inf")  # copying never helps: never copy


def test_the_predictor_command_without_prepared_splits_names_the_stage_to_run_before_loading_a_model(tmp_path):
    argv = ["--profile", "smoke", "--set", f"paths.outputs={tmp_path}", "--set", "model.build=null",
            "--set", "model.name=no/such-model", "--base", "Girls Ballet Tutu"]
    with pytest.raises(SystemExit, match=r"^predictor: .*train.jsonl not found: run the prepare stage first"):
        predictor.main(argv)
