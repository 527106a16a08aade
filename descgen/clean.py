"""Text cleaning, shared by prepare's two scan loops and the local tokenizer builder: HTML entities, tags,
whitespace, the normalised title key, the word-boundary cap, and a description finished as every stage reads it
(capped, then cut back to its last whole sentence).

The C loop (descgen/_c/_scan.c) implements the same rules on UTF-8 bytes; tests/test_prepare.py holds the two
to identical results.
"""

from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass

from . import sentences

_TAG_RE = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)[^<>]*>")
# tags that break a line become a space; inline ones (<b>, <i>, <span>) vanish so "<b>big</b>." stays "big."
_BLOCK_TAGS = frozenset("br p div li ul ol tr td th table h1 h2 h3 h4 h5 h6 hr".split())


_ASCII_NOISE = (string.punctuation + string.whitespace).encode()
_UNICODE_NOISE = str.maketrans({c: None for c in string.punctuation + string.whitespace
                                + "‘’‚‛“”„‟–—―…•·®™©°´¨\xa0\u2009\u200b\u3000"})


def _tag_replacement(match: re.Match) -> str:
    return " " if match.group(1).lower() in _BLOCK_TAGS else ""


# ------------------------------------------------------------------------------------------ cleaning
def clean_text(text: str, decode_html: bool = True, strip_tags: bool = True, fold: bool = True) -> str:
    """Decode HTML entities (twice, for `&amp;#8217;`), strip tags, fold whitespace.

    `fold=False` is the caller's promise that the raw text has no whitespace run to fold (see `scan`); folding
    still happens when decoding or tag stripping changed the text, since both can create runs."""
    changed = False
    if decode_html and "&" in text:
        text = html.unescape(text)
        if "&" in text:
            text = html.unescape(text)
        changed = True
    if strip_tags and "<" in text:
        text = _TAG_RE.sub(_tag_replacement, text)
        changed = True
    if fold or changed:
        return fold_whitespace(text)
    return text.strip() if text and (text[0] == " " or text[-1] == " ") else text


# What str.split() splits on besides " \t\n\r\xa0" (probed one by one below, at memchr speed, being common)
_RARE_SPACE = re.compile("[\x0b\x0c\x1c-\x1f\x85\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def fold_whitespace(text: str) -> str:
    # Substring probes run at memchr speed; a full split/join of a 1,000-char description costs ~10x more,
    # and most descriptions need no folding at all.
    if ("  " in text or "\n" in text or "\t" in text or "\r" in text or "\xa0" in text
            or _RARE_SPACE.search(text)):
        return " ".join(text.split())
    return text.strip() if text and (text[0].isspace() or text[-1].isspace()) else text


def title_key(title: str) -> bytes:
    """What makes two titles 'the same product title': letters and digits, lower-cased; punctuation and
    spacing ignored. Used for title dedupe, the leakage check and the echo check alike."""
    if title.isascii():
        # bytes.translate deleting a 256-entry table: ~0.2 µs a title, 10x less than str.translate / regex
        return title.lower().encode().translate(None, _ASCII_NOISE)
    return title.lower().translate(_UNICODE_NOISE).encode()


def cap_chars(text: str, limit: int | None) -> tuple[str, bool]:
    """Cut `text` to at most `limit` characters at a word boundary."""
    if limit is None or len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-"), True



# ------------------------------------------------------------------------------------------ finished descriptions
# what finishing did to one description, as bits (a uint8 column of the scan's survivor files)
STOPPED, CAPPED, TRIMMED, DROPPED = 1, 2, 4, 8


@dataclass
class Finished:
    """What finishing the described rows did (`finish_content`), summed."""
    rows: int = 0
    stopped_mid_sentence: int = 0   # content, as cleaned, that stops mid-sentence (the dataset cut it)
    capped: int = 0                 # cut at data.max_content_chars
    trimmed: int = 0                # cut back to their last whole sentence (a capped text's cut included)
    dropped: int = 0                # left shorter than data.min_content_chars: no whole sentence to learn from

    def add(self, bits: int) -> None:
        self.rows += 1
        self.stopped_mid_sentence += bool(bits & STOPPED)
        self.capped += bool(bits & CAPPED)
        self.trimmed += bool(bits & TRIMMED)
        self.dropped += bool(bits & DROPPED)


def finish_content(text: str, limit: int | None, trim: bool, min_chars: int) -> tuple[str, int]:
    """A described row's content as every stage reads it: cut at `limit` characters (a word boundary), then, with
    `trim` (data.trim_to_sentence), back to its last whole sentence (descgen/sentences.py), so no target teaches a
    model to stop mid-sentence and no copy ends mid-sentence. (content, bits: STOPPED | CAPPED | TRIMMED | DROPPED);
    "" with DROPPED when what is left is shorter than `min_chars`."""
    finished, capped = cap_chars(text, limit)
    end = sentences.last_whole_end(finished)  # one segmenting of the text's end, at most, for both questions
    whole = sentences.ends_whole(text) if capped else end == len(finished.rstrip())
    bits = (0 if whole else STOPPED) | (CAPPED if capped else 0)
    if trim and end < len(finished.rstrip()):
        finished, bits = finished[:end].rstrip(), bits | TRIMMED
        if len(finished) < min_chars:
            return "", bits | DROPPED
    return finished, bits
