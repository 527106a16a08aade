"""One prompt function for training and inference, built on the tokenizer's own chat template.

Phi-4-mini's template renders `<|user|>{instruction}\n\nTitle: …<|end|><|assistant|>` for generation and
appends `{description}<|end|><|endoftext|>` for training: the description *and* both end tokens are
learned, so the model learns to stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import PromptConfig

IGNORE_INDEX = -100  # label value the loss skips


def messages(prompt: PromptConfig, title: str, description: str | None = None) -> list[dict]:
    user = f"{prompt.instructions[prompt.language]}\n\nTitle: {title}"
    chat = [{"role": "system", "content": prompt.system}] if prompt.system else []
    chat.append({"role": "user", "content": user})
    if description is not None:
        chat.append({"role": "assistant", "content": description})
    return chat


def prompt_text(tokenizer, prompt: PromptConfig, title: str) -> str:
    """The text a model continues: the chat up to and including the assistant header."""
    return tokenizer.apply_chat_template(messages(prompt, title), tokenize=False, add_generation_prompt=True)


def completion_text(tokenizer, prompt: PromptConfig, title: str, description: str) -> str:
    """What the model should write after `prompt_text`: the description and the template's end tokens."""
    head = prompt_text(tokenizer, prompt, title)
    full = tokenizer.apply_chat_template(
        messages(prompt, title, description), tokenize=False, add_generation_prompt=False
    )
    if not full.startswith(head):
        raise ValueError(
            "the tokenizer's chat template does not render the training chat as prompt + completion; "
            "cannot tell prompt tokens from description tokens"
        )
    return full[len(head):]


def encode_prompt(tokenizer, prompt: PromptConfig, title: str) -> list[int]:
    # add_special_tokens=False: the template already holds every special token it wants
    return tokenizer(prompt_text(tokenizer, prompt, title), add_special_tokens=False)["input_ids"]


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def encode_example(tokenizer, prompt: PromptConfig, title: str, description: str, max_seq_len: int) -> Example:
    """Token ids and labels: prompt masked with -100, description + end tokens kept.

    An example longer than `max_seq_len` keeps its prompt and the first part of its description; its end
    tokens are cut with the rest, so the model is never taught to stop mid-sentence.
    """
    prompt_ids = encode_prompt(tokenizer, prompt, title)
    target_ids = tokenizer(
        completion_text(tokenizer, prompt, title, description), add_special_tokens=False
    )["input_ids"]
    room = max_seq_len - len(prompt_ids)
    if room <= 0:
        raise ValueError(f"prompt for {title[:60]!r} is {len(prompt_ids)} tokens, over max_seq_len={max_seq_len}")
    truncated = len(target_ids) > room
    target_ids = target_ids[:room]
    return Example(
        input_ids=prompt_ids + target_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + target_ids,
        truncated=truncated,
    )
