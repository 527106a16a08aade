"""Text cleaning, shared by prepare's two scan loops and the local tokenizer builder: HTML entities, tags,
whitespace, the normalised title key, and the word-boundary cap.

The C loop (descgen/_c/_scan.c) implements the same rules on UTF-8 bytes; tests/test_prepare.py holds the two
to identical results.
"""

from __future__ import annotations

import html
import re
import string

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

