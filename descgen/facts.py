"""Facts a description states that its sources do not: the first thing a catalogue reviewer checks.

A description may say "34 oz", "Size 10", "neon pink" or "hardcover" only if its sources say it; otherwise it is
another product's fact (a copied sibling's size) or an invented one. The sources are the product's own title, and
for a text a model wrote, the neighbours its prompt showed too (`row_sources`); a copied description has only its
title (`sources_of`).

A fact is one of:
- a number, with its unit when one follows ("34 oz", "2.5 inch", "1,000 mAh", "34-Ounce", "40H") or a count before
  it ("Set of 3", "Pack of 6"). It is supported when the same number appears anywhere in the sources, whatever the
  unit: "34-Ounce" in a title supports "34 oz". Numbers are compared as written, thousands separators dropped
  ("1,000" = "1000"); "3.50" and "3.5" are two facts.
- a size: "Size XL", "size 10", or a size word (small, medium, large, x-large, XL, XXL, petite).
- a colour: one or more colour words in a row ("pink", "neon pink", "matte black", "rose gold"); supported when every
  one of its words is a colour word the sources state.
- a format: hardcover, paperback, Kindle edition, audio CD, vinyl, MP3, DVD, Blu-ray, audiobook, large print, board
  book (a book's or a record's edition).

Each fact has a **kind** (volume, length, weight, count, time, colour, format, size, number, ...): a copy's fact of a
kind the title also states can take the title's value (descgen/copyedit.py); a bare number has none.

Deliberately simple and explainable: no spelled-out numbers, no unit conversion, one word list per kind. The rate it
gives (share of rows with at least one unsupported fact) is the same measure for every system, so it ranks them
fairly even where it misses an invented fact.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# unit -> the kinds it measures ("oz" is a volume or a weight: either may take its place)
_UNIT_KINDS = {
    "volume": r"fl\.? ?oz|ounces?|oz|ml|liters?|litres?|l|gallons?|gal|cups?|quarts?|qt|pints?",
    "weight": r"ounces?|oz|lbs?|pounds?|kg|grams?|g|mg",
    "length": r"inch(?:es)?|in|ft|feet|foot|cm|mm|m|km|yards?|yd|\"|'",
    "power": r"watts?|w", "voltage": r"volts?|v", "battery": r"mah", "storage": r"gb|tb|mb",
    "frequency": r"ghz|mhz|hz", "temperature": r"degrees?|°[fc]?",
    "count": r"packs?|pk|pcs|pieces?|piece|count|ct|discs?|disks?|sheets?|pairs?|tablets?|capsules?",
    "time": r"hours?|hrs?|h|minutes?|mins?|days?|weeks?|months?|years?",
    "pages": r"pages?", "percent": r"%",
}
_UNITS = "|".join(sorted({u for units in _UNIT_KINDS.values() for u in units.split("|")}, key=len, reverse=True))
_UNIT_KIND_RES = {kind: re.compile(rf"(?:{units})", re.IGNORECASE) for kind, units in _UNIT_KINDS.items()}
_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?"
# a number (12 | 3.5 | 1,000 | 1/2), its unit after a space or a hyphen ("34-Ounce"), never inside a word or a code
# ("IPX7", "B000123", "VG-10", "USB-3") nor a decimal's tail; a unit ends where a word ends ("34 oz", not the "in" of "34 inside")
_NUMBER = re.compile(rf"(?<![\w.])(?<![A-Za-z]-)(?:(set|pack|box|case|bundle) of\s+)?({_NUM})(?:\s?-?\s?({_UNITS})(?![a-z0-9]))?"
                     rf"(?![\w/]|[.,]\d)", re.IGNORECASE)
_SIZE_CODE = re.compile(r"\bsize\s*:?\s*(X{0,3}[SML]|XX?L|\d+(?:\.\d+)?)\b", re.IGNORECASE)
_SIZE_WORDS = {"extra small": "XS", "x-small": "XS", "xs": "XS", "small": "S", "medium": "M", "large": "L",
               "x-large": "XL", "extra large": "XL", "xl": "XL", "xx-large": "XXL", "xxl": "XXL", "xxxl": "XXXL",
               "petite": "PETITE", "plus size": "PLUS"}
_FORMATS = {"hardcover": "hardcover", "hardback": "hardcover", "paperback": "paperback", "softcover": "paperback",
            "mass market paperback": "paperback", "kindle edition": "kindle", "kindle": "kindle",
            "audio cd": "cd", "cd": "cd", "mp3 download": "mp3", "mp3": "mp3", "vinyl": "vinyl", "lp": "vinyl",
            "dvd": "dvd", "blu-ray": "blu-ray", "bluray": "blu-ray", "audiobook": "audiobook",
            "audible audiobook": "audiobook", "large print": "large print", "board book": "board book",
            "spiral-bound": "spiral-bound", "ebook": "ebook", "e-book": "ebook", "vhs": "vhs"}
COLOURS = frozenset(
    "black white red blue green yellow orange purple pink brown grey gray silver gold copper bronze beige tan navy "
    "teal turquoise ivory lavender lilac violet magenta maroon burgundy coral khaki rainbow "
    "multicolor multicolour fuchsia aqua indigo".split())
# words that colour a colour ("neon pink"): a fact only beside a colour word
_SHADES = frozenset("neon hot light dark pale bright deep matte metallic mint sky royal baby pastel rose forest "
                    "electric powder lime".split())
_COLOUR_WORD = "|".join(sorted(COLOURS | _SHADES, key=len, reverse=True))
_COLOUR_RUN = re.compile(rf"(?<![A-Za-z])(?:(?:{_COLOUR_WORD})[ -])*(?:{'|'.join(sorted(COLOURS, key=len, reverse=True))})"
                         rf"(?![A-Za-z])", re.IGNORECASE)


def _phrases(table) -> re.Pattern:
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(table, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


_SIZE_WORD = _phrases(_SIZE_WORDS)
_FORMAT = _phrases(_FORMATS)
_WORD = re.compile(r"[a-z0-9]+")
_DIGIT = re.compile(r"\d")
# every word (as _WORD splits it) of the size and format phrases: a text with none has no such fact
_SIZE_FIRST = frozenset(_WORD.findall(" ".join(_SIZE_WORDS)))
_FORMAT_FIRST = frozenset(_WORD.findall(" ".join(_FORMATS)))


@dataclass(frozen=True)
class Fact:
    """One fact of a text: where it is, what it says and what can support it."""

    start: int
    end: int
    written: str
    keys: tuple[str, ...]       # supported when the sources state every key
    kinds: frozenset[str]       # what it measures: a title's fact of a shared kind may replace it


def _number_key(number: str) -> str:
    return number.replace(",", "")


def _unit_kinds(unit: str | None, counted: bool) -> frozenset[str]:
    if counted:
        return frozenset({"count"})
    if not unit:
        return frozenset({"number"})
    return frozenset(kind for kind, pattern in _UNIT_KIND_RES.items() if pattern.fullmatch(unit)) or frozenset({"number"})


def _colour_facts(text: str) -> list[Fact]:
    """Runs of colour words joined by a space or a hyphen ("pink", "neon pink", "blue-green"), each run one fact; a
    shade counts only before a colour ("light blue", not "a light cup")."""
    return [Fact(m.start(), m.end(), m.group(0), tuple(f"colour:{w.lower()}" for w in re.split(r"[ -]", m.group(0))),
                 frozenset({"colour"})) for m in _COLOUR_RUN.finditer(text)]


def find(text: str) -> list[Fact]:
    """Every fact of `text`, in order, none overlapping another (the longest wins: "large print" is a format, not a
    size; "Size 10" a size, not the number 10)."""
    candidates = []
    # each pattern only where a word it needs is present: a set lookup per word instead of a long alternation tried
    # at every character (~4x faster on a description; describe reads every copy it weighs)
    words = set(_WORD.findall(text.lower()))
    if _DIGIT.search(text):
        for m in _NUMBER.finditer(text):
            counted, unit = m.group(1), m.group(3)
            candidates.append(Fact(m.start(), m.end(), m.group(0), (_number_key(m.group(2)),),
                                   _unit_kinds(unit, bool(counted))))
    if "size" in words:
        for m in _SIZE_CODE.finditer(text):
            candidates.append(Fact(m.start(), m.end(), m.group(0), (f"size:{m.group(1).upper()}",), frozenset({"size"})))
    if words & _SIZE_FIRST:
        for m in _SIZE_WORD.finditer(text):
            code = _SIZE_WORDS[re.sub(r"\s+", " ", m.group(0).lower())]
            candidates.append(Fact(m.start(), m.end(), m.group(0), (f"size:{code}",), frozenset({"size"})))
    if words & _FORMAT_FIRST:
        for m in _FORMAT.finditer(text):
            name = _FORMATS[re.sub(r"\s+", " ", m.group(0).lower())]
            candidates.append(Fact(m.start(), m.end(), m.group(0), (f"format:{name}",), frozenset({"format"})))
    if words & COLOURS:
        candidates += _colour_facts(text)
    kept: list[Fact] = []
    for fact in sorted(candidates, key=lambda f: (-(f.end - f.start), f.start)):
        if all(fact.end <= k.start or fact.start >= k.end for k in kept):
            kept.append(fact)
    return sorted(kept, key=lambda f: f.start)


def supported_keys(sources: list[str]) -> set[str]:
    """Every fact key the sources state (a size's number also counts as a number: "Size 10" supports "10", and a
    number "size:10")."""
    keys = set()
    for source in sources:
        keys |= _keys_of(source)
    return keys


@functools.lru_cache(maxsize=65_536)
def _keys_of(source: str) -> frozenset[str]:
    """One source's keys: cached, as a title is read once for its copy and again for every check of it."""
    keys = {key for fact in find(source) for key in fact.keys}
    keys.update(f"size:{k}" for k in list(keys) if ":" not in k)
    keys.update(k.split(":", 1)[1] for k in list(keys) if k.startswith("size:"))
    return frozenset(keys)


def unsupported_facts(text: str, sources: list[str]) -> list[Fact]:
    """The facts of `text` some key of which no source states, in order."""
    known = supported_keys(sources)
    return [fact for fact in find(text) if not set(fact.keys) <= known]


def unsupported(text: str, sources: list[str]) -> list[str]:
    """The facts of `text` (as written, each once, in order) that no source states."""
    seen, out = set(), []
    for fact in unsupported_facts(text, sources):
        if fact.keys not in seen:
            seen.add(fact.keys)
            out.append(fact.written)
    return out


def highlighted(text: str, sources: list[str], label: str = "unsupported") -> list[tuple[str, str | None]]:
    """`text` in pieces, each unsupported fact's span labelled and the rest not: what a page highlights. The pieces
    join back to `text` exactly."""
    pieces, at = [], 0
    for fact in unsupported_facts(text, sources):
        if fact.start > at:
            pieces.append((text[at:fact.start], None))
        pieces.append((text[fact.start:fact.end], label))
        at = fact.end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


def row_sources(row: dict) -> list[str]:
    """What a model was given for `row`: its title and the neighbours shown in its prompt (title + description)."""
    sources = [row.get("title") or ""]
    for neighbour in row.get("neighbours") or ():
        sources += [neighbour.get("title") or "", neighbour.get("content") or ""]
    return sources


def sources_of(row: dict, copied: bool) -> list[str]:
    """What may support the facts of the text shipped for `row`: a copy rests on this product's title alone (the row
    it was copied from is another product); a written text on the title and the neighbours its prompt showed."""
    return [row.get("title") or ""] if copied else row_sources(row)
