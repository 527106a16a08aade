"""Retrieval: who may be a row's neighbour, how neighbours enter the prompt and its token budget, and the index
prepare hands on."""

import json

import numpy as np
import pytest

from descgen import modeling, predictor, prepare, retrieval, stages
from descgen.prompts import encode_example, encode_prompt, prompt_text

from conftest import make_cfg

TRAIN = [
    {"uid": "t1", "title": "Girls Ballet Tutu Neon Pink", "content": "A pink tulle tutu for dance class."},
    {"uid": "t2", "title": "Girls Ballet Tutu Lavender", "content": "A pink tulle tutu for dance class."},  # sibling
    {"uid": "t3", "title": "Cast Iron Skillet 10 Inch", "content": "Pre-seasoned cast iron for searing."},
    {"uid": "t4", "title": "girls ballet tutu, neon pink!", "content": "Same title, other punctuation."},
    {"uid": "t5", "title": "Stainless Steel French Press 34 oz", "content": "Rich coffee in four minutes."},
]


def source_of(rows, held_out=()):
    return retrieval.NeighbourSource.of_rows(rows, held_out)


def test_a_row_never_sees_itself_nor_a_row_with_its_normalised_title():
    (near,) = source_of(TRAIN).nearest([TRAIN[0]], k=4)
    uids = [n["uid"] for n in near]
    assert "t1" not in uids and "t4" not in uids  # itself, and "girls ballet tutu, neon pink!"
    assert uids[0] == "t2"  # the sibling with another title and the same description is a legitimate neighbour
    assert [n["similarity"] for n in near] == sorted((n["similarity"] for n in near), reverse=True)


def test_a_new_title_retrieves_its_family_first():
    (near,) = source_of(TRAIN).nearest([{"title": "Toddler Ballet Tutu Neon Pink"}], k=2)
    assert {n["uid"] for n in near} <= {"t1", "t2", "t4"} and near[0]["similarity"] > 0.3


def test_a_row_sharing_no_word_is_no_neighbour():
    (near,) = source_of(TRAIN).nearest([{"title": "Wireless Bluetooth Earbuds"}], k=3)
    assert near == []
    (near,) = source_of(TRAIN).nearest([{"title": "Cast Iron Pan"}], k=5)
    assert [n["uid"] for n in near] == ["t3"] and near[0]["similarity"] > 0


def test_equal_similarities_come_in_row_order_whatever_k():
    twins = [{"uid": f"u{i}", "title": f"Ceramic Mug {chr(65 + i)}", "content": str(i)} for i in range(12)]
    source = source_of(twins)
    for k in (1, 3, 7):
        (near,) = source.nearest([{"title": "Ceramic Mug"}], k)
        assert [n["uid"] for n in near] == [f"u{i}" for i in range(k)]


def test_held_out_rows_are_shown_only_to_products_outside_the_splits():
    held = [{"uid": "h1", "title": "Girls Ballet Tutu Mint Green", "content": "A held-out tutu."}]
    source = source_of(TRAIN, held)
    (for_a_split_row,) = source.nearest([{"uid": "t2", "title": "Girls Ballet Tutu Lavender"}], k=5)
    (for_the_held_row,) = source.nearest([held[0]], k=5)
    (for_a_new_product,) = source.nearest([{"uid": "new", "title": "Girls Ballet Tutu Mint"}], k=5)
    assert "h1" not in {n["uid"] for n in for_a_split_row + for_the_held_row}
    assert for_a_new_product[0]["uid"] == "h1"


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
    tight = make_cfg(tmp_path, "retrieval.k=3", "train.max_seq_len=60", "prompt.max_title_tokens=30",
                     model_dir=tiny_model_dir)
    (bare,) = retrieval.attach(tight, tokenizer, [row], source_of(long_train), for_training=True)
    assert bare["neighbours"] == []


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


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_model_dir):
    cfg = make_cfg(tmp_path_factory.mktemp("catalogue"), model_dir=tiny_model_dir)
    return cfg, prepare.run(cfg)


def test_the_catalogue_holds_every_eligible_row_and_keeps_validation_and_test_rows_apart(prepared):
    cfg, result = prepared
    catalogue = retrieval.Catalogue.open(cfg)
    uids = catalogue.table.column("uid").to_pylist()
    shown, held = set(uids[:catalogue.catalogue_rows]), uids[catalogue.catalogue_rows:]
    held_rows = result.splits["validation"] + result.splits["test"]
    assert len(catalogue) == result.report["eligible"]
    assert sorted(held) == sorted(r["uid"] for r in held_rows)
    assert not shown & {r["uid"] for r in held_rows}
    held_keys = {retrieval.key_hash(r["title"]) for r in held_rows}
    assert not held_keys & set(catalogue.title_keys[:catalogue.catalogue_rows].tolist())
    assert {r["uid"] for r in result.splits["train"]} <= shown


def test_prepared_neighbours_are_a_fresh_search_and_never_of_similarity_zero(prepared):
    cfg, result = prepared
    source = retrieval.NeighbourSource.load(cfg)
    fresh = retrieval.NeighbourSource(source.catalogue, source.index, {}, 0)  # nothing stored: it searches
    for split in ("train", "validation", "test"):
        rows = stages.read_split(cfg, split)
        stored = source.nearest(rows, cfg.retrieval.candidates, split)
        assert stored == fresh.nearest(rows, cfg.retrieval.candidates), split
        assert all(n["similarity"] > 0 for near in stored for n in near)
        held = {r["uid"] for r in result.splits["validation"] + result.splits["test"]}
        assert not held & {n["uid"] for near in stored for n in near}  # no split row sees a held-out row


def test_an_index_of_another_format_or_catalogue_is_refused_naming_prepare(prepared, tmp_path):
    import shutil

    from conftest import make_cfg as again

    cfg, _ = prepared
    copy = again(tmp_path, f"model.name={cfg.model.name}")
    shutil.copytree(cfg.data_dir, copy.data_dir)
    meta = json.loads(stages.path(copy, "catalogue_meta").read_text())
    stages.path(copy, "catalogue_meta").write_text(json.dumps(dict(meta, digest="0" * 16)))
    with pytest.raises(stages.MissingArtifact, match=r"another catalogue: run the prepare stage"):
        retrieval.NeighbourSource.load(copy)
    stages.path(copy, "catalogue_meta").write_text(json.dumps(dict(meta, format=1)))
    with pytest.raises(stages.MissingArtifact, match=r"is of format 1, not 2: run the prepare stage"):
        retrieval.NeighbourSource.load(copy)


def test_nothing_prepare_writes_is_a_pickle(prepared):
    cfg, _ = prepared
    for path in cfg.data_dir.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), path  # every pickle protocol >= 2 begins so
    with np.load(stages.path(cfg, "retrieval_index"), allow_pickle=False) as arrays:
        assert set(arrays.files) == {"data", "indices", "indptr", "shape", "idf", "meta"}


def test_the_train_source_draws_neighbours_from_the_train_split_alone(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, "retrieval.source=train", model_dir=tiny_model_dir)
    result = prepare.run(cfg)
    catalogue = retrieval.Catalogue.open(cfg)
    assert catalogue.table.column("uid").to_pylist() == [r["uid"] for r in result.splits["train"]]
    assert len(catalogue) == catalogue.catalogue_rows


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
    assert set(report["models"]) == {"baseline", "baseline_rag", "finetuned", "retrieval", "gated", "oracle"}
    assert set(report["vs_baseline"]) == {"baseline_rag", "finetuned", "retrieval", "gated", "oracle"}
    assert set(report["vs_retrieval"]) == {"baseline", "baseline_rag", "finetuned", "gated", "oracle"}
    assert set(report["gated_vs"]) == {"finetuned", "retrieval", "oracle"}
    gated = [json.loads(line) for line in open(stages.path(cfg, "gated_predictions"))]
    assert sum(g["copied"] for g in gated) == report["gate"]["copied_test_rows"]
    assert all((g["p"] > report["gate"]["threshold"]) == g["copied"] for g in gated if g["p"] is not None)
    assert all(g["source"] == ("copied" if g["copied"] else "written") for g in gated)
    # the oracle takes, per row, the better of the two the gate chooses between
    oracle = [json.loads(line) for line in open(stages.path(cfg, "finetuned_predictions"))]
    assert report["models"]["oracle"]["rougeL"] >= max(report["models"]["gated"]["rougeL"],
                                                       np.mean([o["rougeL"] for o in oracle]))
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


def test_the_predictor_command_without_prepared_splits_names_the_stage_to_run_before_loading_a_model(tmp_path):
    argv = ["--profile", "smoke", "--set", f"paths.outputs={tmp_path}", "--set", "model.build=null",
            "--set", "model.name=no/such-model", "--base", "Girls Ballet Tutu"]
    with pytest.raises(SystemExit, match=r"^predictor: .*catalogue.arrow not found: run the prepare stage first"):
        predictor.main(argv)
