import torch

from descgen import modeling
from descgen.prompts import IGNORE_INDEX, completion_text, encode_example, prompt_text
from descgen.losses import PadCollator


def test_prompt_uses_the_phi4_chat_format(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    text = prompt_text(tokenizer, smoke_cfg.prompt, {"title": "Girls Ballet Tutu"})
    assert text == ("<|user|>Write the Amazon product description for this product.\n\nTitle: Girls Ballet Tutu"
                    "<|end|><|assistant|>")


def test_completion_ends_with_both_end_tokens(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    assert completion_text(tokenizer, smoke_cfg.prompt, {"title": "T", "content": "A tutu."}) == "A tutu.<|end|><|endoftext|>"


def test_portuguese_instruction_is_available(smoke_cfg, tmp_path):
    from conftest import make_cfg

    cfg = make_cfg(tmp_path, "prompt.language=pt")
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    assert "Escreva a descrição" in prompt_text(tokenizer, cfg.prompt, {"title": "Caneca"})


def test_labels_mask_the_prompt_and_keep_description_and_end_tokens(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    example = encode_example(tokenizer, smoke_cfg.prompt, {"title": "Girls Ballet Tutu", "content": "A pink tutu."}, 160)
    n_prompt = len(tokenizer(prompt_text(tokenizer, smoke_cfg.prompt, {"title": "Girls Ballet Tutu"}),
                             add_special_tokens=False)["input_ids"])
    assert example.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert example.labels[n_prompt:] == example.input_ids[n_prompt:]
    end_id, eos_id = tokenizer.convert_tokens_to_ids(["<|end|>", "<|endoftext|>"])
    assert example.labels[-2:] == [end_id, eos_id]
    assert tokenizer.decode(example.labels[n_prompt:-2]) == "A pink tutu."
    assert not example.truncated


def test_truncation_keeps_the_prompt_and_drops_the_end_tokens(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    example = encode_example(tokenizer, smoke_cfg.prompt, {"title": "Tutu", "content": "word " * 200}, 60)
    assert len(example.input_ids) == 60 and example.truncated
    assert tokenizer.eos_token_id not in example.labels


def test_padding_is_masked_by_the_attention_mask_not_the_pad_id(smoke_cfg):
    tokenizer = modeling.load_tokenizer(smoke_cfg)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # as on Phi-4-mini
    short = encode_example(tokenizer, smoke_cfg.prompt, {"title": "Tutu", "content": "Pink."}, 160)
    long = encode_example(tokenizer, smoke_cfg.prompt, {"title": "Tutu", "content": "Pink and very fluffy indeed."}, 160)
    batch = PadCollator(tokenizer.pad_token_id)([vars(short), vars(long)])
    n = len(short.input_ids)
    assert batch["input_ids"].shape[1] % 8 == 0
    assert batch["attention_mask"][0, :n].all() and not batch["attention_mask"][0, n:].any()
    assert (batch["labels"][0, n:] == IGNORE_INDEX).all()
    # the EOS inside the example is still a label, although it equals the pad id
    assert batch["labels"][0, n - 1] == tokenizer.eos_token_id
    assert torch.equal(batch["labels"][1, :len(long.labels)], torch.tensor(long.labels))


def fit_one_at_a_time(tokenizer, prompt, row, neighbours, budget, description_tokens):
    """The neighbour fitting as written for one row (the reference the batched path is held to): each neighbour's
    whole description tokenized, cut to description_tokens, cut further until the prompt fits."""
    from descgen.prompts import MIN_NEIGHBOUR_TOKENS, encode_prompt

    fitted = []
    for neighbour in neighbours:
        ids = tokenizer(neighbour["content"], add_special_tokens=False)["input_ids"]
        keep, chosen = min(len(ids), description_tokens), None
        while keep > 0 and keep >= min(MIN_NEIGHBOUR_TOKENS, len(ids)):
            content = neighbour["content"] if keep == len(ids) else tokenizer.decode(ids[:keep]).strip()
            over = len(encode_prompt(tokenizer, prompt, dict(row, neighbours=fitted + [dict(neighbour, content=content)]))) - budget
            if over <= 0:
                chosen = dict(neighbour, content=content)
                break
            keep -= over
        if chosen is None:
            break
        fitted.append(chosen)
    return dict(row, neighbours=fitted)


def test_batched_neighbour_fitting_and_training_examples_equal_the_one_row_path(smoke_cfg):
    """Across budgets that fit every neighbour, some, or none (at max_seq_len 90 some bare prompts already fill the
    room their description leaves), and descriptions short and long (a long one is tokenized from a prefix)."""
    from descgen.prompts import fit_neighbours, training_examples

    tokenizer = modeling.load_tokenizer(smoke_cfg)
    words = "soft pink tulle tutu for dance class and birthday parties with a satin bow".split()
    rows, near = [], []
    for i in range(40):
        rows.append({"uid": str(i), "title": f"Girls Ballet Tutu {i}", "content": " ".join(words[: 3 + i % 12]) * (1 + i % 3)})
        near.append([{"uid": f"n{i}{j}", "title": f"Tutu {j}", "content": " ".join(words * (1 + (i * j) % 40))[: 40 + 97 * i]}
                     for j in range(i % 4)])
    for budget in (400, 120, 70, 30):
        batched = fit_neighbours(tokenizer, smoke_cfg.prompt, rows, near, [budget] * len(rows), 24)
        assert batched == [fit_one_at_a_time(tokenizer, smoke_cfg.prompt, r, n, budget, 24) for r, n in zip(rows, near)]
    for max_seq_len in (400, 160, 90):
        made = training_examples(tokenizer, smoke_cfg.prompt, rows, near, max_seq_len, 24)
        assert made.skipped == []  # every bare prompt here leaves its description room
        fitted, examples, lengths = made.rows, made.examples, made.lengths
        budgets = [max_seq_len - len(tokenizer(completion_text(tokenizer, smoke_cfg.prompt, r),
                                               add_special_tokens=False)["input_ids"]) for r in rows]
        assert fitted == [fit_one_at_a_time(tokenizer, smoke_cfg.prompt, r, n, b, 24) for r, n, b in zip(rows, near, budgets)]
        assert [vars(e) for e in examples] == [vars(encode_example(tokenizer, smoke_cfg.prompt, r, max_seq_len))
                                               for r in fitted]
        assert lengths == [len(tokenizer(prompt_text(tokenizer, smoke_cfg.prompt, r) + completion_text(
            tokenizer, smoke_cfg.prompt, r), add_special_tokens=False)["input_ids"]) for r in fitted]
        bare = [len(tokenizer(prompt_text(tokenizer, smoke_cfg.prompt, r), add_special_tokens=False)["input_ids"])
                for r in rows]
        filled = [i for i, (n, b, room) in enumerate(zip(near, bare, budgets)) if n and b >= room]
        assert bool(filled) == (max_seq_len == 90)  # the path that skips a row whose bare prompt fills its room is run


# ---------------------------------------------------------------------------------------------- a long title
LONG_TITLE = " ".join(f"hgmtonor{i}qx jvohamqcmnr{i * 7} rcwhtsmvjq{i}0" for i in range(17))[:600]  # 600 characters


def test_a_long_title_is_cut_to_max_title_tokens_at_a_word_boundary_once(smoke_cfg):
    from descgen.prompts import cut_title, cut_titles

    tokenizer = modeling.load_tokenizer(smoke_cfg)
    limit = smoke_cfg.prompt.max_title_tokens
    assert len(LONG_TITLE) == 600 and len(tokenizer(LONG_TITLE, add_special_tokens=False)["input_ids"]) > 3 * limit
    cut = cut_title(tokenizer, {"uid": "u", "title": LONG_TITLE}, limit)
    assert cut["title_truncated"] and cut["uid"] == "u"
    assert 0 < len(tokenizer(cut["title"], add_special_tokens=False)["input_ids"]) <= limit
    assert LONG_TITLE.startswith(cut["title"]) and LONG_TITLE[len(cut["title"])] == " "  # whole words only
    assert cut_title(tokenizer, cut, limit) == cut  # a cut title is not cut again
    short = {"uid": "s", "title": "Girls Ballet Tutu Neon Pink"}
    assert cut_titles(tokenizer, [short, {"uid": "u", "title": LONG_TITLE}], limit) == [short, cut]
    one_word = cut_title(tokenizer, {"title": "x" * 600}, limit)["title"]  # no space to cut at: cut at the token
    assert "x" * 600 != one_word and len(tokenizer(one_word, add_special_tokens=False)["input_ids"]) <= limit


def test_a_training_row_whose_prompt_leaves_its_description_no_room_is_skipped_and_counted(smoke_cfg):
    from descgen.prompts import MIN_ANSWER_TOKENS, training_examples

    tokenizer = modeling.load_tokenizer(smoke_cfg)
    rows = [{"uid": "a", "title": "Tutu", "content": "A pink tutu. " * 20},
            {"uid": "b", "title": LONG_TITLE, "content": "A pink tutu. " * 20},  # its title alone fills 160 tokens
            {"uid": "c", "title": "Tutu", "content": "Pink."}]
    made = training_examples(tokenizer, smoke_cfg.prompt, rows, [[], [], []], 160, 24)
    assert made.skipped == [1] and [r["uid"] for r in made.rows] == ["a", "c"]
    assert len(made.examples) == len(made.lengths) == 2
    assert all(e.n_target_tokens >= min(MIN_ANSWER_TOKENS, 4) for e in made.examples)


def test_token_ids_do_not_take_the_padding_a_batched_generation_call_left_on(smoke_cfg):
    """A padded call (generation's batches) leaves padding on in the Rust tokenizer: the ids of a reference, a prompt
    or a title read after it must not be padded to the batch's longest."""
    from descgen.prompts import _ids, encode_examples

    tokenizer = modeling.load_tokenizer(smoke_cfg, padding_side="left")
    rows = [{"title": "Tutu", "content": "Pink."}, {"title": "Girls Ballet Tutu Neon Pink", "content": "A long text " * 9}]
    fresh = [vars(e) for e in encode_examples(tokenizer, smoke_cfg.prompt, rows, 160)]
    tokenizer(["a b c d e f g", "a"], padding=True, add_special_tokens=False)
    assert _ids(tokenizer, ["a", "a b c"]) == [tokenizer("a", add_special_tokens=False)["input_ids"],
                                              tokenizer("a b c", add_special_tokens=False)["input_ids"]]
    tokenizer(["a b c d e f g", "a"], padding=True, add_special_tokens=False)
    assert [vars(e) for e in encode_examples(tokenizer, smoke_cfg.prompt, rows, 160)] == fresh
