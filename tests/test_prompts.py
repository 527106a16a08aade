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
