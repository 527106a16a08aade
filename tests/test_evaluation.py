import dataclasses
import html
import json

import numpy as np
import pytest
import torch
from transformers import NoRepeatNGramLogitsProcessor

from descgen import compare, demo, evaluation, generate, retrieval, stages
from descgen.predictor import Predictor

from conftest import make_cfg


def test_rouge_of_identical_text_is_one_and_of_disjoint_text_is_zero():
    scores = evaluation.rouge_scores(["the pink tutu", "blue kettle"], ["the pink tutu", "red shoes"])
    assert scores[0] == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert scores[1] == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_rouge_on_a_hand_computed_pair():
    # prediction "a soft pink tutu" vs reference "a pink tutu for girls": 3 shared unigrams
    # P = 3/4, R = 3/5, F1 = 2PR/(P+R) = 2/3; one shared bigram ("pink tutu"): P = 1/3, R = 1/4, F1 = 2/7
    score = evaluation.rouge_scores(["a soft pink tutu"], ["a pink tutu for girls"])[0]
    assert score["rouge1"] == pytest.approx(2 / 3)
    assert score["rouge2"] == pytest.approx(2 / 7)
    assert score["rougeL"] == pytest.approx(2 / 3)  # LCS "a pink tutu" = 3


def test_rouge_uses_stemming():
    assert evaluation.rouge_scores(["running shoes"], ["run shoe"])[0]["rouge1"] == 1.0


def test_rouge_with_kept_stems_is_rouge_scores_own_scorer():
    from rouge_score import rouge_scorer

    from descgen.config import REPO_ROOT

    texts = []
    for line in (REPO_ROOT / "dataset" / "sample" / "trn.json").read_bytes().splitlines()[:400]:
        try:
            texts.append(json.loads(line)["content"])
        except (ValueError, KeyError, TypeError):
            continue
    pairs = list(zip(texts, texts[1:] + texts[:1]))  # each text against another: every kind of overlap
    plain = rouge_scorer.RougeScorer(list(evaluation.ROUGE_KEYS), use_stemmer=True)
    expected = [{k: s.fmeasure for k, s in plain.score(ref, pred).items()} for pred, ref in pairs]
    assert evaluation.rouge_scores(*zip(*pairs)) == expected == evaluation.rouge_scores(*zip(*pairs))  # twice: kept


def test_a_plain_judge_finds_credited_praise_whose_source_neither_title_nor_reference_names():
    text = "A fine novel. “Gripping.” — Daily Planet. Loved by all. - The Evening Lantern."
    assert evaluation.plain_credits(text) == ["Daily Planet", "The Evening Lantern"]
    assert evaluation.credit_unfounded(text, "The Glass Orchard", "Reviewed by the Daily Planet.")
    assert not evaluation.credit_unfounded(text, "The Glass Orchard", "Daily Planet and the evening lantern loved it")
    assert not evaluation.credit_unfounded("A red tutu - size 4 - for girls.", "Tutu", "A tutu.")


def test_a_plain_judge_finds_numbers_neither_title_nor_reference_states():
    assert evaluation.plain_numbers("Holds 1,000 mAh, 2.5 inch, 34-Ounce.") == {"1000", "2.5", "34"}
    assert evaluation.number_unstated("A 1 liter press for 8 cups.", "Acme Press 34 oz", "Brews 8 cups.")
    assert not evaluation.number_unstated("A 34 oz press for 8 cups.", "Acme Press 34 oz", "Brews 8 cups.")
    assert not evaluation.number_unstated("A press.", "Acme Press", "")


def test_repetition_rate_is_zero_for_fresh_text_and_high_for_a_loop():
    assert evaluation.repetition_rate("a most interesting book about the sea") == 0.0
    loop = " ".join(["a most interesting book the times"] * 4)
    assert evaluation.repetition_rate(loop) == pytest.approx(1 - 6 / 21)


def test_stop_rate_counts_outputs_that_ended_on_a_stop_token():
    rows = [{"uid": str(i), "title": "t", "content": "ref"} for i in range(4)]
    scored = evaluation.score_rows(rows, ["ref"] * 4, [True, False, True, True], [1.0, 2.0, 3.0, 4.0])
    summary = evaluation.summarize(scored)
    assert summary["stop_rate"] == 0.75
    assert summary["perplexity"] == pytest.approx(np.exp(2.5))


def test_bootstrap_ci_brackets_the_true_delta_and_is_reproducible():
    rng = np.random.default_rng(0)
    before = rng.normal(0.20, 0.05, 400)
    after = before + 0.03 + rng.normal(0, 0.02, 400)
    ci = evaluation.paired_bootstrap(before, after, samples=2000, seed=1)
    assert ci["ci_low"] < 0.03 < ci["ci_high"]
    assert ci["ci_low"] > 0  # a real improvement is called significant
    assert ci == evaluation.paired_bootstrap(before, after, samples=2000, seed=1)
    assert ci != evaluation.paired_bootstrap(before, after, samples=2000, seed=2)


def test_bootstrap_ci_straddles_zero_when_there_is_no_difference():
    rng = np.random.default_rng(0)
    before = rng.normal(0.2, 0.05, 300)
    after = before + rng.normal(0, 0.05, 300)
    ci = evaluation.paired_bootstrap(before, after, samples=2000, seed=0)
    assert ci["ci_low"] < 0 < ci["ci_high"]


def test_bootstrap_refuses_unpaired_rows():
    with pytest.raises(ValueError, match="same rows"):
        evaluation.paired_bootstrap(np.zeros(3), np.zeros(4), samples=10, seed=0)


def test_retrieval_floor_picks_the_most_similar_training_title():
    train_rows = [{"title": "Stainless Steel French Press 34 oz", "content": "coffee"},
                  {"title": "Girls Ballet Tutu Neon Pink", "content": "tutu"},
                  {"title": "Cast Iron Skillet 10 Inch", "content": "skillet"}]
    test_rows = [{"title": "Ballet Tutu for Girls, Pink"}, {"title": "10 inch skillet, cast iron"}]
    source = retrieval.NeighbourSource.of_rows(train_rows)
    assert [r["content"] for r in evaluation.retrieval_floor(source, test_rows)] == ["tutu", "skillet"]


def test_verdict_follows_the_confidence_interval():
    report = {"delta": {"rougeL": {"mean": 0.02, "ci_low": 0.01, "ci_high": 0.03}},
              "delta_vs_retrieval": {"rougeL": {"mean": -0.01, "ci_low": -0.03, "ci_high": 0.01}}}
    assert compare.verdict(report) == {"vs_baseline_rougeL": "better",
                                       "vs_retrieval_rougeL": "no significant difference"}


def test_batched_and_one_at_a_time_greedy_generation_agree(tmp_path, tiny_model_dir):
    predictor = Predictor.load(make_cfg(tmp_path, "retrieval.k=0", model_dir=tiny_model_dir), adapter=False)
    titles = [{"title": t} for t in ["Girls Ballet Tutu Neon Pink", "Stainless Steel French Press Coffee Maker, 34 oz",
                                     "Kids Magnetic Tiles", "The Art of War (Penguin Classics) Annotated Hardcover Edition"]]
    batched = predictor.generate(titles, base=True, batch_size=4)
    single = [predictor.generate([t], base=True, batch_size=1)[0] for t in titles]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.new_tokens > 0 for g in batched)


def test_generation_respects_max_new_tokens_and_reports_no_stop(tmp_path, tiny_model_dir):
    predictor = Predictor.load(make_cfg(tmp_path, "retrieval.k=0", model_dir=tiny_model_dir), adapter=False)
    predictor.stop_ids = [-1]  # no token can end it
    out = predictor.generate([{"title": "Tutu"}], base=True, max_new_tokens=5)[0]
    assert out.new_tokens == 5 and out.stopped is False


def test_decoding_is_greedy_with_no_repeat_ngrams_in_the_output_by_default(smoke_cfg):
    kwargs = generate.decoding_kwargs(smoke_cfg.eval, [1, 2], 0, prompt_ids=torch.zeros(2, 7, dtype=torch.long))
    assert kwargs["do_sample"] is False and kwargs["eos_token_id"] == [1, 2]
    assert smoke_cfg.eval.no_repeat_ngram_scope == "copy"
    # transformers' own ban is off: ours takes its place, starting after the prompt
    assert kwargs["no_repeat_ngram_size"] == 0
    [ban] = kwargs["logits_processor"]
    assert isinstance(ban, generate.CopyNoRepeatNGram) and ban.prompt_len == 7 and ban.n == 3
    output = dataclasses.replace(smoke_cfg.eval, no_repeat_ngram_scope="output")
    [ban] = generate.decoding_kwargs(output, [1, 2], 0, prompt_ids=torch.zeros(2, 7, dtype=torch.long))["logits_processor"]
    assert isinstance(ban, generate.OutputNoRepeatNGram) and ban.prompt_len == 7 and ban.ban.ngram_size == 3
    whole = dataclasses.replace(smoke_cfg.eval, no_repeat_ngram_scope="prompt_and_output")
    kwargs = generate.decoding_kwargs(whole, [1, 2], 0, prompt_ids=torch.zeros(2, 7, dtype=torch.long))
    assert kwargs["no_repeat_ngram_size"] == 3 and "logits_processor" not in kwargs


def test_output_ngram_ban_lets_the_model_repeat_the_prompt_but_not_itself():
    scores = torch.zeros(1, 10)
    prompt = [5, 6, 7, 1]                       # e.g. a neighbour's description: "5 6 7"
    banned = lambda ids, processor: set(torch.nonzero(processor(torch.tensor([ids]), scores)[0] == -float("inf"))
                                        .flatten().tolist())
    output_only = generate.OutputNoRepeatNGram(3, prompt_len=len(prompt))
    whole = NoRepeatNGramLogitsProcessor(3)
    # having written "5 6", copying the prompt's "5 6 7" is allowed; transformers' ban forbids it
    assert banned(prompt + [5, 6], output_only) == set() and banned(prompt + [5, 6], whole) == {7}
    # a trigram the model itself wrote is banned in both
    assert banned(prompt + [5, 6, 7, 5, 6], output_only) == {7} == banned(prompt + [5, 6, 7, 5, 6], whole)
    # fewer generated tokens than the n-gram: nothing to ban
    assert banned(prompt + [5], output_only) == set()


def test_copy_ngram_ban_lets_the_model_copy_a_neighbour_that_repeats_a_phrase_but_not_loop():
    prompt = [5, 6, 7, 9, 5, 6, 7, 1]            # a neighbour's description that says "5 6 7" twice
    ban = generate.CopyNoRepeatNGram(3, torch.tensor([prompt, [0] * 4 + [2, 3, 4, 1]]))
    output_only = generate.OutputNoRepeatNGram(3, prompt_len=len(prompt))
    steps, sequence = [], list(prompt)
    for token in [5, 6, 7, 9, 5, 6, 7, 5, 6]:    # generate() calls the processor once per new token
        sequence.append(token)
        scores = ban(torch.tensor([sequence, [0] * 4 + [2, 3, 4, 1] + sequence[8:]]), torch.zeros(2, 10))
        steps.append(set(torch.nonzero(scores[0] == -float("inf")).flatten().tolist()))
    # the whole copy is allowed: "5 6 7" a second time, as the prompt has it twice (the output ban forbids it) ...
    assert steps[:6] == [set()] * 6
    assert set(torch.nonzero(output_only(torch.tensor([prompt + [5, 6, 7, 9, 5, 6]]), torch.zeros(1, 10))[0]
                             == -float("inf")).flatten().tolist()) == {7}
    # ... but "6 7 9" only once (the prompt has it once), and "5 6 7" not a third time
    assert steps[6] == {9} and steps[8] == {7}
    # each row counts its own prompt: the second row's prompt has no "5 6 7", so its second one is banned
    assert (scores[1] == -float("inf")).nonzero().flatten().tolist() == [7]
    # a fresh processor given the whole sequence at once counts the same
    fresh = generate.CopyNoRepeatNGram(3, torch.tensor([prompt]))
    assert (fresh(torch.tensor([sequence]), torch.zeros(1, 10))[0] == -float("inf")).nonzero().flatten().tolist() == [7]



def test_the_demo_shows_the_predictors_texts_for_its_titles_and_writes_them(trained_cfg):
    cfg = trained_cfg
    predictor = demo.load(cfg)
    table = demo.run(cfg, predictor)
    titles = [{"title": t} for t in cfg.demo.titles]
    assert table.to_dict(orient="records") == [
        {"title": t["title"], "base": b.text, "fine-tuned": f.text}
        for t, b, f in zip(titles, predictor.generate(titles, base=True), predictor.generate(titles))]
    assert [json.loads(line) for line in stages.path(cfg, "demo_rows").read_text().splitlines()] == \
        table.to_dict(orient="records")


@pytest.mark.parametrize("lora_weights", ["merged", "unmerged"])
def test_scoring_the_fine_tune_leaves_the_base_weights_untouched(trained_cfg, tmp_path, lora_weights):
    cfg = make_cfg(tmp_path, f"eval.lora_weights={lora_weights}", "retrieval.k=0", f"model.name={trained_cfg.model.name}",
                   f"paths.adapter_dir={trained_cfg.adapter_dir}")
    rows = stages.read_split(trained_cfg, "test")[:4]
    predictor = Predictor.load(cfg, adapter=True)
    assert predictor.lora_weights == lora_weights
    before = {k: v.clone() for k, v in predictor.model.state_dict().items()}
    evaluation.score_model(predictor, rows, "finetuned")
    after = predictor.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(getattr(m, "merged", False) for m in predictor.model.modules())
    # merged: the fine-tune is a copy of its own, and the base model carries no adapter at all
    assert (predictor.tuned is predictor.model) == (lora_weights == "unmerged")


def test_demo_widget_shows_the_predictors_texts_for_the_typed_title_and_settings(trained_cfg):
    predictor = demo.load(trained_cfg)
    ui = demo.widget(predictor)
    title, controls, button, answers, _ = ui.children
    title.value = "Cast Iron Skillet 10 Inch"
    controls.children[2].value = 16  # max tokens
    button.click()
    base_html, tuned_html = (box.children[0].value for box in answers.children)
    row = [{"title": "Cast Iron Skillet 10 Inch"}]
    base, tuned = (predictor.generate(row, base=flag, max_new_tokens=16)[0].text for flag in (True, False))
    assert base_html == f"<b>base</b><p>{html.escape(base)}</p>"
    assert tuned_html == f"<b>fine-tuned</b><p>{html.escape(tuned)}</p>"
    assert not button.disabled


def test_compare_refuses_a_baseline_made_in_another_compute_dtype(trained_cfg):
    import json

    from descgen import baseline, stages

    baseline.run(trained_cfg)
    metrics_path = stages.path(trained_cfg, "baseline_metrics")
    made = json.loads(metrics_path.read_text())
    assert made["compute_dtype"] == "float32"  # the smoke profile's model.dtype
    try:
        metrics_path.write_text(json.dumps(dict(made, compute_dtype="bfloat16")))
        with pytest.raises(RuntimeError, match="the baseline ran in bfloat16 and the fine-tune would run in float32"):
            compare.run(trained_cfg)
    finally:
        metrics_path.write_text(json.dumps(made))


def test_a_system_declared_in_the_table_is_scored_and_compared_as_declared(smoke_cfg, monkeypatch):
    # adding a system is one entry: build_report scores every system handed to it and compares it with what its entry
    # names (here a second copy of the floor, compared with the fine-tune), beside the baseline and the floor
    rng = np.random.default_rng(0)

    def rows(scores):
        return [{"uid": f"u{i}", "title": "t", "reference": "r", "output": "o", "rougeL": s, "rouge1": s, "rouge2": s,
                 "rougeLsum": s, "repetition": 0.0, "length_words": 10, "unsupported": [], "stopped": True, "nll": 1.0}
                for i, s in enumerate(scores)]

    scored = {name: rows(rng.uniform(0, 1, 30)) for name in ("baseline", "finetuned", "retrieval")}
    scored["second_floor"] = rows([r["rougeL"] + 0.1 for r in scored["retrieval"]])
    table = compare.SYSTEM_TABLE + (compare.System("second_floor", lambda inputs, name: [], vs=("finetuned",)),)
    monkeypatch.setattr(compare, "SYSTEM_TABLE", table)
    report = compare.build_report(smoke_cfg, scored)
    assert report["models"]["second_floor"]["rougeL"] == pytest.approx(report["models"]["retrieval"]["rougeL"] + 0.1)
    assert report["vs_retrieval"]["second_floor"]["rougeL"]["mean"] == pytest.approx(0.1)
    assert set(report["second_floor_vs"]) == {"finetuned"}
    assert "second_floor" in report["by_novelty"]["novel"]["models"] or "second_floor" in report["by_novelty"]["near_copy"]["models"]
    # a system needing neighbours is left out where none are shown
    assert "baseline_rag" not in [s.name for s in compare.systems(dataclasses.replace(
        smoke_cfg, retrieval=dataclasses.replace(smoke_cfg.retrieval, k=0)))]
