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
    return _chat(prompt, user_message(prompt, row), row["content"] if with_answer else None)


def prompt_text(tokenizer, prompt: PromptParams, row: dict) -> str:
    """The text a model continues: the chat up to and including the assistant header."""
    frame = _frame(tokenizer, prompt)
    if frame is not None:
        return frame[0] + user_message(prompt, row) + frame[1]
    return _render(tokenizer, prompt, row)


def completion_text(tokenizer, prompt: PromptParams, row: dict, head: str | None = None) -> str:
    """What the model should write after `prompt_text` (`head`, when the caller has it): the row's description and the
    template's end tokens."""
    frame = _frame(tokenizer, prompt)
    if frame is not None:
        return frame[2] + row["content"] + frame[3]
    return _render_completion(tokenizer, prompt, row, head)


def _render(tokenizer, prompt: PromptParams, row: dict) -> str:
    return tokenizer.apply_chat_template(messages(prompt, row), tokenize=False, add_generation_prompt=True)


def _render_completion(tokenizer, prompt: PromptParams, row: dict, head: str | None = None) -> str:
    head = _render(tokenizer, prompt, row) if head is None else head
    full = tokenizer.apply_chat_template(messages(prompt, row, with_answer=True), tokenize=False,
                                         add_generation_prompt=False)
    if not full.startswith(head):
        raise ValueError(
            "the tokenizer's chat template does not render the training chat as prompt + completion; "
            "cannot tell prompt tokens from description tokens"
        )
    return full[len(head):]


_USER, _ANSWER = "\x00user\x00", "\x00answer\x00"


def _frame(tokenizer, prompt: PromptParams) -> tuple[str, str, str, str] | None:
    """The chat template's text around the user message and around the answer, rendered once per tokenizer and
    prompt params: a Jinja render costs ~56 µs and a training row took four (a fifth of its preparation at 1.3 M rows).
    Kept only where the template puts the two in verbatim, which probe rows with edge whitespace, braces and a
    neighbour check against real renders; None: render every time."""
    frames = tokenizer.__dict__.setdefault("_descgen_frames", {})
    # the prompt params' repr is the key (a dataclass of dicts has no hash); made once per params object, not per row
    known = tokenizer.__dict__.setdefault("_descgen_frame_keys", {})
    if known.get(id(prompt), (None,))[0] is not prompt:
        known[id(prompt)] = (prompt, repr(prompt))
    key = known[id(prompt)][1]
    if key not in frames:
        frames[key] = None
        head = tokenizer.apply_chat_template(_chat(prompt, _USER), tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(_chat(prompt, _USER, _ANSWER), tokenize=False, add_generation_prompt=False)
        if head.count(_USER) == 1 and full.startswith(head) and full[len(head):].count(_ANSWER) == 1:
            before, after = head.split(_USER)
            tail_before, tail_after = full[len(head):].split(_ANSWER)
            frame = (before, after, tail_before, tail_after)
            probes = [{"title": " Ballet {{ Tutu }} ", "content": " A pink tutu.\n", "neighbours": [
                {"title": "Tutu", "content": "{% raw %} x"}]}, {"title": "Tasse", "content": "Très belle."}]
            fields = {name: "x" for name in prompt.fields}
            if all(frame[0] + user_message(prompt, dict(fields, **p)) + frame[1] == _render(tokenizer, prompt, dict(fields, **p))
                   and frame[2] + p["content"] + frame[3] == _render_completion(tokenizer, prompt, dict(fields, **p))
                   for p in probes):
                frames[key] = frame
    return frames[key]


def _chat(prompt: PromptParams, user: str, answer: str | None = None) -> list[dict]:
    chat = [{"role": "system", "content": prompt.system}] if prompt.system else []
    chat.append({"role": "user", "content": user})
    if answer is not None:
        chat.append({"role": "assistant", "content": answer})
    return chat


def encode_prompt(tokenizer, prompt: PromptParams, row: dict) -> list[int]:
    """The prompt's token ids (through the Rust tokenizer where there is one: a neighbour cut to fit calls this once a
    try, ~700 times per 4,096 full-size training rows, and transformers' own call costs ~6x more)."""
    return _ids(tokenizer, [prompt_text(tokenizer, prompt, row)])[0]


def answer_tokens(tokenizer, prompt: PromptParams, rows: list[dict]) -> list[int]:
    """How many tokens each row's description and end tokens take (one batched tokenizer call)."""
    texts = [completion_text(tokenizer, prompt, row) for row in rows]
    return [len(ids) for ids in _ids(tokenizer, texts)]


def _backend(tokenizer):
    """The Rust tokenizer behind a fast tokenizer (None for a slow one), with padding and truncation off. A call such
    as `tokenizer(texts, padding=True)` (generation's batches) leaves padding switched on in the Rust tokenizer until
    transformers' next call resets it, so a direct `encode_batch` after generating padded every text to the batch's
    longest: a reference's prompt took its completion's length (found when a long title's row made it raise)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        if backend.padding is not None:
            backend.no_padding()
        if backend.truncation is not None:
            backend.no_truncation()
    return backend


def _ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of many texts in one call: a fast tokenizer encodes a batch at ~1/10 the per-call cost of one text
    at a time (that was ~0.2 ms a call, most of a training row's preparation at 1.3 M rows)."""
    if not texts:
        return []
    backend = _backend(tokenizer)
    if backend is not None:  # the Rust tokenizer itself: the same ids without transformers' per-text conversion
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    # add_special_tokens=False: the template already holds every special token it wants
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def _decode(tokenizer, ids: list[list[int]]) -> list[str]:
    """`tokenizer.decode` of each, in one call to the Rust tokenizer where transformers would change nothing after it
    (no clean-up of spaces): its per-call conversion of the ids was ~1/20 of building a training example."""
    backend = _backend(tokenizer)
    if backend is not None and getattr(tokenizer, "clean_up_tokenization_spaces", None) is False:
        return backend.decode_batch(ids, skip_special_tokens=False)
    return [tokenizer.decode(one) for one in ids]


MIN_NEIGHBOUR_TOKENS = 8  # a neighbour cut below this many description tokens says too little to be worth showing
# a training row must keep this many tokens of its description (or all of a shorter one) after its prompt: fewer
# teach nothing of the description, and such a row is skipped and counted (`Examples.skipped`), never raised
MIN_ANSWER_TOKENS = 16


# ------------------------------------------------------------------------------------------ one rule for a long title
def cut_titles(tokenizer, rows: list[dict], max_tokens: int | None) -> list[dict]:
    """Each row whose title is over `max_tokens` tokens with its title cut to them at a word boundary and flagged
    (`title_truncated`); the others as they are. The one rule for a long title, wherever a prompt is made: prepare's
    token lengths, training, baseline, compare, describe and the web page (prompt.max_title_tokens). Real titles are
    ~20 tokens; trn.json's longest run to several hundred, which would leave a 512-token example no room for its
    description. Retrieval still reads the whole title: only what the model is shown is cut.

    A title of at most `max_tokens` bytes is never tokenized (every token holds at least one byte), so a batch of real
    titles costs a length check each. The cut ends where the max_tokens-th token ends, moved back to the space before a
    word that token splits ("…tonor43 jv" is cut before "jv", not inside it); a title with no space there (one long
    word) is cut at the token. Cutting is idempotent: a cut title is not cut again. `max_tokens` None: never cut."""
    if max_tokens is None:
        return list(rows)
    long = [i for i, row in enumerate(rows) if len(str(row["title"]).encode()) > max_tokens]
    if not long:
        return list(rows)
    out = list(rows)
    for i, title in zip(long, _cut_texts(tokenizer, [str(rows[i]["title"]) for i in long], max_tokens)):
        if title is not None:
            out[i] = dict(rows[i], title=title, title_truncated=True)
    return out


def cut_title(tokenizer, row: dict, max_tokens: int | None) -> dict:
    """`cut_titles` of one row."""
    return cut_titles(tokenizer, [row], max_tokens)[0]


def _cut_texts(tokenizer, texts: list[str], max_tokens: int) -> list[str | None]:
    """Each text cut to at most max_tokens tokens at a word boundary (None: it fits as it is)."""
    backend = _backend(tokenizer)
    if backend is not None:  # character offsets come with fast (Rust) tokenizers
        encodings = backend.encode_batch(texts, add_special_tokens=False)
        ends = [None if len(e.ids) <= max_tokens else e.offsets[max_tokens - 1][1] for e in encodings]
    else:
        ends = [None if len(ids) <= max_tokens else len(tokenizer.decode(ids[:max_tokens]))
                for ids in _ids(tokenizer, texts)]
    out: list[str | None] = []
    for text, end in zip(texts, ends):
        if end is None:
            out.append(None)
            continue
        while True:
            cut = text[:end]
            if end < len(text) and not text[end].isspace() and " " in cut.strip():
                cut = cut.rstrip()[:cut.rstrip().rfind(" ")]  # the token ends inside a word: cut before that word
            cut = cut.rstrip(" ,;:-/(&+")
            if not cut or len(_ids(tokenizer, [cut])[0]) <= max_tokens:
                break
            end = len(cut) - 1  # re-tokenizing merged across the cut: one more word off
        out.append(cut or text[:end])
    return out


def fit_neighbours(tokenizer, prompt: PromptParams, rows: list[dict], neighbours: list[list[dict]],
                   max_prompt_tokens: list[int], description_tokens: int) -> list[dict]:
    """Each row with as many of its `neighbours` (best first) as fit a prompt of its `max_prompt_tokens`, each
    description cut to at most `description_tokens` tokens, the last one shorter if that makes it fit. The caller sizes
    `max_prompt_tokens` so the answer keeps its room: neighbours are cut, never the description to be written."""
    return fit_neighbours_and_ids(tokenizer, prompt, rows, neighbours, max_prompt_tokens, description_tokens)[0]


def fit_neighbours_and_ids(tokenizer, prompt: PromptParams, rows: list[dict], neighbours: list[list[dict]],
                           max_prompt_tokens: list[int], description_tokens: int):
    """`fit_neighbours`, and each fitted row's prompt token ids (None where no neighbour was fitted): a caller that
    tokenizes the prompt next (training) need not tokenize it again.

    Batched: neighbour by neighbour over all rows, each step's descriptions and trial prompts tokenized in one call;
    a row whose trial is too long takes the one-row path (`_cut_to_fit`), which tries the same cut first."""
    fitted: list[list[dict]] = [[] for _ in rows]
    prompt_ids: list[list[int] | None] = [None] * len(rows)
    active = list(range(len(rows)))
    slot = 0
    while active:
        asking = [i for i in active if len(neighbours[i]) > slot]
        if not asking:
            break
        leading = dict(zip(asking, _leading_ids(tokenizer, [neighbours[i][slot]["content"] for i in asking],
                                                description_tokens)))
        trials: dict[int, dict] = {}
        shown = [i for i, (ids, whole) in leading.items()
                 if ids and len(ids) >= min(MIN_NEIGHBOUR_TOKENS, len(ids) if whole else MIN_NEIGHBOUR_TOKENS)]
        cut = [i for i in shown if not leading[i][1]]
        cut_texts = dict(zip(cut, _decode(tokenizer, [leading[i][0] for i in cut])))
        for i in shown:
            content = cut_texts[i].strip() if i in cut_texts else neighbours[i][slot]["content"]
            trials[i] = dict(neighbours[i][slot], content=content)
        order = list(trials)
        texts = [prompt_text(tokenizer, prompt, dict(rows[i], neighbours=fitted[i] + [trials[i]])) for i in order]
        still = []
        for i, ids in zip(order, _ids(tokenizer, texts)):
            over = len(ids) - max_prompt_tokens[i]
            if over <= 0:
                cut = trials[i], ids
            else:  # the one-row path, from the first trial's overflow on
                cut = _cut_to_fit(tokenizer, prompt, rows[i], fitted[i], neighbours[i][slot], max_prompt_tokens[i],
                                  description_tokens, leading[i], len(leading[i][0]) - over)
            if cut is not None:
                fitted[i].append(cut[0])
                prompt_ids[i] = cut[1]
                still.append(i)
        active, slot = still, slot + 1
    return [dict(row, neighbours=near) for row, near in zip(rows, fitted)], prompt_ids


def _leading_ids(tokenizer, texts: list[str], n: int) -> list[tuple[list[int], bool]]:
    """The first n token ids of each text, and whether they are all of it. A long text is tokenized from a prefix of
    6·n characters, not whole (a 1,500-character description is ~500 tokens of which a neighbour shows 96): the
    prefix's first n tokens are the whole text's when the n-th ends before the prefix's last space (tokenizers do not
    merge across words); where that cannot be told, the text is tokenized whole."""
    prefix_chars = 6 * n  # a tokenizer makes a token of ~4 characters of English (~3 of made-up words)
    out: list[tuple[list[int], bool] | None] = [None] * len(texts)
    long = [i for i, t in enumerate(texts) if len(t) > prefix_chars]
    backend = _backend(tokenizer)
    if long and backend is not None:  # offsets come with fast (Rust) tokenizers only
        prefixes = [texts[i][:prefix_chars] for i in long]
        for i, prefix, encoding in zip(long, prefixes, backend.encode_batch(prefixes, add_special_tokens=False)):
            if len(encoding.ids) > n and encoding.offsets[n - 1][1] <= prefix.rfind(" "):
                out[i] = (encoding.ids[:n], False)
    rest = [i for i, found in enumerate(out) if found is None]
    for i, ids in zip(rest, _ids(tokenizer, [texts[i] for i in rest])):
        out[i] = (ids[:n], len(ids) <= n)
    return out


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)

    @property
    def prompt_length(self) -> int:
        """Tokens before the description: the labels are the input ids from here on (-100 before). Found from the
        front (a prompt is ~100 of a row's ~500 labels: read per row for 1.3 M rows when the training set is built)."""
        return next((i for i, label in enumerate(self.labels) if label != IGNORE_INDEX), len(self.labels))


@dataclass
class Examples:
    """Training examples of some rows: the rows with their neighbours fitted, each row's example and untruncated
    length, for the rows kept; and the rows skipped (their positions in the rows given), whose prompt leaves no room
    for MIN_ANSWER_TOKENS of their description even with every neighbour left out."""
    rows: list[dict]
    examples: list[Example]
    lengths: list[int]
    skipped: list[int]
    titles_cut: int = 0  # of the rows given, those whose title was cut to prompt.max_title_tokens (Prompter.examples)


def training_examples(tokenizer, prompt: PromptParams, rows: list[dict], neighbours: list[list[dict]] | None,
                      max_seq_len: int, description_tokens: int) -> Examples:
    """Training examples with their neighbours fitted (None: no neighbours, the plain prompt): each row's completion
    is tokenized once (its length sizes the neighbours' room), each bare prompt once (it says whether a neighbour can
    fit at all, and is the prompt of a row that shows none; a fitted trial's ids are kept), a neighbour's description
    only as far as it can be shown. A row whose bare prompt leaves no room for MIN_ANSWER_TOKENS of its description
    (or all of a shorter one) is skipped and counted, never raised: one row must not stop a run of 1.48 M.
    Equal to `fit_neighbours` then `encode_examples` on the rows kept (tests/test_prompts.py), at ~1/2 the tokenizer's
    work."""
    tails = [completion_text(tokenizer, prompt, row) for row in rows]
    tail_ids = _ids(tokenizer, tails)
    if neighbours is None:
        fitted = list(rows)
        prompt_ids = _ids(tokenizer, [prompt_text(tokenizer, prompt, row) for row in rows])
    else:
        fitted = [dict(row, neighbours=[]) for row in rows]
        prompt_ids = _ids(tokenizer, [prompt_text(tokenizer, prompt, row) for row in fitted])
        rooms = [max_seq_len - len(t) for t in tail_ids]
        # a neighbour only adds text: where the bare prompt already fills the room its description leaves, none can be
        # shown and its trials are skipped (most stand-in rows: a median description of ~500 tokens against 512)
        open_rows = [i for i in range(len(rows)) if len(prompt_ids[i]) < rooms[i]]
        some, some_ids = fit_neighbours_and_ids(tokenizer, prompt, [rows[i] for i in open_rows],
                                                [neighbours[i] for i in open_rows], [rooms[i] for i in open_rows],
                                                description_tokens)
        for i, row, ids in zip(open_rows, some, some_ids):
            fitted[i] = row
            if ids is not None:
                prompt_ids[i] = ids
    out = Examples([], [], [], [])
    for i, (row, head, tail) in enumerate(zip(fitted, prompt_ids, tail_ids)):
        room = max_seq_len - len(head)
        if room < min(MIN_ANSWER_TOKENS, len(tail)):
            out.skipped.append(i)
            continue
        out.rows.append(row)
        out.examples.append(Example(head + tail[:room], [IGNORE_INDEX] * len(head) + tail[:room], len(tail) > room))
        out.lengths.append(len(head) + len(tail))
    return out


def encode_example(tokenizer, prompt: PromptParams, row: dict, max_seq_len: int) -> Example:
    """`encode_examples` of one row."""
    return encode_examples(tokenizer, prompt, [row], max_seq_len)[0]


def encode_examples(tokenizer, prompt: PromptParams, rows: list[dict], max_seq_len: int) -> list[Example]:
    """Token ids and labels for each row: prompt masked with -100, its description (`content`) + end tokens kept
    (prompts and completions tokenized in one call).

    An example longer than `max_seq_len` keeps its prompt and the first part of its description; its end
    tokens are cut with the rest, so the model is never taught to stop mid-sentence.
    """
    heads = [prompt_text(tokenizer, prompt, row) for row in rows]
    tails = [completion_text(tokenizer, prompt, row, head) for row, head in zip(rows, heads)]
    encoded = _ids(tokenizer, heads + tails)
    examples = []
    for row, prompt_ids, target_ids in zip(rows, encoded[:len(rows)], encoded[len(rows):]):
        room = max_seq_len - len(prompt_ids)
        if room <= 0:
            raise ValueError(f"prompt for {str(row.get('title'))[:60]!r} is {len(prompt_ids)} tokens, over "
                             f"max_seq_len={max_seq_len}")
        examples.append(Example(input_ids=prompt_ids + target_ids[:room],
                                labels=[IGNORE_INDEX] * len(prompt_ids) + target_ids[:room],
                                truncated=len(target_ids) > room))
    return examples


def _cut_to_fit(tokenizer, prompt: PromptParams, row: dict, fitted: list[dict], neighbour: dict,
                max_prompt_tokens: int, description_tokens: int, leading: tuple[list[int], bool] | None = None,
                keep: int | None = None) -> tuple[dict, list[int]] | None:
    """The neighbour cut to fit the prompt's budget (a few tokens less each try), with the prompt's ids; None when it
    would have to be cut below MIN_NEIGHBOUR_TOKENS. `leading` and `keep`: where a caller's first try left off."""
    ids, whole = leading or _leading_ids(tokenizer, [neighbour["content"]], description_tokens)[0]
    total = len(ids) if whole else None  # a long text: at least description_tokens + 1 tokens
    keep = len(ids) if keep is None else keep
    while keep > 0 and keep >= min(MIN_NEIGHBOUR_TOKENS, total if total is not None else MIN_NEIGHBOUR_TOKENS):
        content = neighbour["content"] if keep == total else _decode(tokenizer, [ids[:keep]])[0].strip()
        trial = dict(neighbour, content=content)
        prompt_ids = encode_prompt(tokenizer, prompt, dict(row, neighbours=fitted + [trial]))
        over = len(prompt_ids) - max_prompt_tokens
        if over <= 0:
            return trial, prompt_ids
        keep -= over  # re-tokenising a cut text can merge across the cut: cut again until it fits
    return None
