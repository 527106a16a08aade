"""One prompt function for training, evaluation and the demo: a row (a dict) -> chat messages -> tokens, on the
tokenizer's own chat template.

The user message is the instruction, then each field that `prompt.fields` names, as `Label: value`. Phi-4-mini's
template renders `<|user|>{instruction}\n\nTitle: …<|end|><|assistant|>` for generation and appends
`{description}<|end|><|endoftext|>` for training: the description *and* both end tokens are learned, so the model
learns to stop. The answer is always the row's `content`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import PromptParams

IGNORE_INDEX = -100  # label value the loss skips


def user_message(prompt: PromptParams, row: dict) -> str:
    """The instruction, the row's retrieved neighbours if it has any (title and description each), then
    `Label: value` for each of `prompt.fields`, blank-line separated. Without neighbours: today's prompt, byte for
    byte."""
    parts = [prompt.instructions[prompt.language]]
    labels = prompt.neighbours
    for neighbour in row.get("neighbours") or ():
        parts.append(f"{labels['title']}: {neighbour['title']}\n{labels['description']}: {neighbour['content']}")
    for name, label in prompt.fields.items():
        if name not in row:
            raise ValueError(f"prompt.fields shows {name!r}, which this row lacks (uid {row.get('uid')!r}; it has "
                           f"{', '.join(map(repr, row))})")
        parts.append(f"{label}: {row[name]}")
    return "\n\n".join(parts)


def messages(prompt: PromptParams, row: dict, with_answer: bool = False) -> list[dict]:
    """The chat for `row`: optional system message, the user message, and (for training) its description."""
    chat = [{"role": "system", "content": prompt.system}] if prompt.system else []
    chat.append({"role": "user", "content": user_message(prompt, row)})
    if with_answer:
        chat.append({"role": "assistant", "content": row["content"]})
    return chat


def prompt_text(tokenizer, prompt: PromptParams, row: dict) -> str:
    """The text a model continues: the chat up to and including the assistant header."""
    return tokenizer.apply_chat_template(messages(prompt, row), tokenize=False, add_generation_prompt=True)


def completion_text(tokenizer, prompt: PromptParams, row: dict) -> str:
    """What the model should write after `prompt_text`: the row's description and the template's end tokens."""
    head = prompt_text(tokenizer, prompt, row)
    full = tokenizer.apply_chat_template(messages(prompt, row, with_answer=True), tokenize=False,
                                         add_generation_prompt=False)
    if not full.startswith(head):
        raise ValueError(
            "the tokenizer's chat template does not render the training chat as prompt + completion; "
            "cannot tell prompt tokens from description tokens"
        )
    return full[len(head):]


def encode_prompt(tokenizer, prompt: PromptParams, row: dict) -> list[int]:
    # add_special_tokens=False: the template already holds every special token it wants
    return tokenizer(prompt_text(tokenizer, prompt, row), add_special_tokens=False)["input_ids"]


def answer_tokens(tokenizer, prompt: PromptParams, row: dict) -> int:
    """How many tokens the row's description and end tokens take."""
    return len(tokenizer(completion_text(tokenizer, prompt, row), add_special_tokens=False)["input_ids"])


MIN_NEIGHBOUR_TOKENS = 8  # a neighbour cut below this many description tokens says too little to be worth showing


def fit_neighbours(tokenizer, prompt: PromptParams, row: dict, neighbours: list[dict], max_prompt_tokens: int,
                   description_tokens: int) -> dict:
    """`row` with as many of `neighbours` (best first) as fit a prompt of `max_prompt_tokens`, each description cut
    to at most `description_tokens` tokens, the last one shorter if that makes it fit. The caller sizes
    `max_prompt_tokens` so the answer keeps its room: neighbours are cut, never the description to be written."""
    fitted: list[dict] = []
    for neighbour in neighbours:
        cut = _cut_to_fit(tokenizer, prompt, row, fitted, neighbour, max_prompt_tokens, description_tokens)
        if cut is None:
            break
        fitted.append(cut)
    return dict(row, neighbours=fitted)


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def encode_example(tokenizer, prompt: PromptParams, row: dict, max_seq_len: int) -> Example:
    """Token ids and labels for `row`: prompt masked with -100, its description (`content`) + end tokens kept.

    An example longer than `max_seq_len` keeps its prompt and the first part of its description; its end
    tokens are cut with the rest, so the model is never taught to stop mid-sentence.
    """
    prompt_ids = encode_prompt(tokenizer, prompt, row)
    target_ids = tokenizer(completion_text(tokenizer, prompt, row), add_special_tokens=False)["input_ids"]
    room = max_seq_len - len(prompt_ids)
    if room <= 0:
        raise ValueError(f"prompt for {str(row.get('title'))[:60]!r} is {len(prompt_ids)} tokens, over max_seq_len={max_seq_len}")
    truncated = len(target_ids) > room
    target_ids = target_ids[:room]
    return Example(
        input_ids=prompt_ids + target_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + target_ids,
        truncated=truncated,
    )


def _cut_to_fit(tokenizer, prompt: PromptParams, row: dict, fitted: list[dict], neighbour: dict,
                max_prompt_tokens: int, description_tokens: int) -> dict | None:
    ids = tokenizer(neighbour["content"], add_special_tokens=False)["input_ids"]
    keep = min(len(ids), description_tokens)
    while keep > 0 and keep >= min(MIN_NEIGHBOUR_TOKENS, len(ids)):
        content = neighbour["content"] if keep == len(ids) else tokenizer.decode(ids[:keep]).strip()
        trial = dict(neighbour, content=content)
        over = len(encode_prompt(tokenizer, prompt, dict(row, neighbours=fitted + [trial]))) - max_prompt_tokens
        if over <= 0:
            return trial
        keep -= over  # re-tokenising a cut text can merge across the cut: cut again until it fits
    return None
