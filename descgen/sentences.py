"""Whole sentences: where a text's sentences end, whether it ends whole, and the text cut back to its last whole
sentence.

About 40 % of real trn.json descriptions stop mid-sentence (the dataset cut them: "…the author has made a good use
of the available information. The author has"), and a model trained on them learns to stop there; a generation cut at
max_new_tokens stops mid-word. A shop publishes neither. prepare trims every description to its last whole sentence
(data.trim_to_sentence), and a shipped text is cut the same way (descgen/copyedit.py).

Sentences come from Bling Fire's segmenter (Microsoft's finite-state tokenizer: "No. 5", "Dr. Seuss", "3.5 oz." and
quotes are not sentence ends), ~20 µs a description where pysbd took ~1.1 ms: trimming the ~1.3 M described rows
of trn.json is seconds, not 20 minutes. A text ends whole when its last sentence ends in . ! or ? (a closing quote or
bracket may follow), or is a credit line ("— The Times", "“A triumph.” —Daily Planet"): editorial reviews end so.
An ellipsis ("…", "...") is where a text was cut, not an end.
"""

from __future__ import annotations

import re

try:
    import blingfire
except OSError as exc:  # the wheel carries its library for x86-64 Linux, macOS and Windows
    raise ImportError(f"blingfire's sentence segmenter cannot load on this platform ({exc}); descgen needs it to tell "
                      "whole sentences (requirements.txt)") from None

_CLOSERS = "\"'”’»)]"
# a source after a dash: capitalised words, "of"/"the"/"and"/"&" between them, an optional ", Publication" after
NAME_RUN = r"[A-Z][\w.'’&-]*(?:\s+(?:[A-Z][\w.'’&-]*|of|the|and|for|de|la|von|van|&))*"
_CREDIT_END = re.compile(rf"(?:^|[.!?{_CLOSERS}]\s*|\s)[—–-]{{1,2}}\s*{NAME_RUN}(?:,\s*{NAME_RUN})?\s*\.?$")
_ELLIPSIS = re.compile(r"(?:\.\.\.|…)[" + re.escape(_CLOSERS) + r"]*$")


def spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, in order: what Bling Fire finds (it skips the spaces between). Its
    sentences are found back in the text: the library's own offsets walk the text a byte at a time in Python (~180 µs
    a description, where its sentences alone take ~20 µs)."""
    if not text.strip():
        return []
    found, at = [], 0
    for sentence in blingfire.text_to_sentences(text).split("\n"):
        start = text.find(sentence, at)
        if start < 0:  # the segmenter changed something inside a sentence: its own offsets
            return [tuple(span) for span in blingfire.text_to_sentences_and_offsets(text)[1]]
        found.append((start, start + len(sentence)))
        at = start + len(sentence)
    return found


def sentence_ends_whole(sentence: str) -> bool:
    """Whether a sentence is finished: . ! ? before any closing quotes and brackets (not an ellipsis), or a credit
    line at its end ("— The Times")."""
    sentence = sentence.rstrip()
    if not sentence or _ELLIPSIS.search(sentence):
        return False
    if sentence.rstrip(_CLOSERS)[-1:] in (".", "!", "?"):
        return True
    return bool(_CREDIT_END.search(sentence))


def ends_whole(text: str) -> bool:
    """Whether `text` ends with a whole sentence (an empty text does not)."""
    end = len(text.rstrip())
    return end > 0 and last_whole_end(text) == end


def trim(text: str) -> tuple[str, bool]:
    """`text` cut back to the end of its last whole sentence, and whether anything was cut ("" when no sentence is
    whole: a caller drops or counts it)."""
    end = last_whole_end(text)
    return text[:end].rstrip(), end < len(text.rstrip())


TAIL_CHARS = 512  # the end of a text segmented first: a sentence's end is decided by what stands around it


def last_whole_end(text: str) -> int:
    """Where the last whole sentence of `text` ends (0: none). Most texts end whole (no segmenting). For the rest,
    the segmenter reads the text's last TAIL_CHARS from a word boundary, then four times as much, ..., until a whole
    sentence ends in it: prepare trims ~600 k of 1.48 M descriptions at full size, ~1,000 characters each, and
    segmenting each whole, twice, took 2 minutes of its 5."""
    text = text.rstrip()
    if not text:
        return 0
    if not _ELLIPSIS.search(text) and text.rstrip(_CLOSERS)[-1:] in (".", "!", "?"):
        return len(text)
    window = TAIL_CHARS
    while True:
        start = max(len(text) - window, 0)
        if start:  # from the start of a word (a sentence cut at the window's start still ends where it ends)
            start = text.find(" ", start) + 1 or start
        for s0, s1 in reversed(spans(text[start:])):
            if sentence_ends_whole(text[start + s0:start + s1]):
                return start + s1
        if start == 0:
            return 0
        window *= 4
