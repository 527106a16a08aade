"""Facts a description states that its sources do not: the first thing a catalogue reviewer checks.

A description may say "34 oz", "Size 10" or "1998" only if the title or a neighbour shown in the prompt says it;
otherwise the model invented it. A fact here is a number (with its unit when one follows: "34 oz", "2.5 inch",
"1,000 mAh") or a letter size after the word "size" ("Size XL"). It is supported when the same number (or size
code) appears anywhere in the sources, whatever the unit: "34-Ounce" in a title supports "34 oz". Numbers are
compared as written, thousands separators dropped ("1,000" = "1000"); "3.50" and "3.5" are two facts.

Deliberately simple and explainable: no spelled-out numbers, no unit conversion. The rate it gives (share of
rows with at least one unsupported fact) is the same measure for every system, so it ranks them fairly even
where it misses an invented fact.
"""

from __future__ import annotations

import re

_UNITS = (r"oz|ounces?|fl\.? ?oz|lbs?|pounds?|inch(?:es)?|in\b|ft|feet|foot|cm|mm|m\b|km|ml|l\b|liters?|litres?|"
          r"gallons?|gal|kg|g\b|grams?|mg|w\b|watts?|v\b|volts?|mah|gb|tb|mb|hz|ghz|mhz|pack|pcs|pieces?|count|ct|"
          r"x\b|%|\"|'|pages?|years?|months?|days?|hours?|minutes?|mins?")
# a number: 12 | 3.5 | 1,000 | 1/2 ; its unit may follow after a space or a hyphen ("34-Ounce")
_NUMBER = re.compile(rf"(?<![\w.])(\d+(?:,\d{{3}})*(?:\.\d+)?(?:/\d+)?)(?:\s?-?\s?({_UNITS}))?", re.IGNORECASE)
_SIZE = re.compile(r"\bsize\s*:?\s*(X{0,3}[SML]|XX?L|\d+(?:\.\d+)?)\b", re.IGNORECASE)


def _number_key(number: str) -> str:
    return number.replace(",", "")


def facts(text: str) -> list[tuple[str, str]]:
    """(key, as written) for each fact in `text`, in order: numbers keyed by their digits, sizes by 'size:CODE'."""
    found = [(_number_key(m.group(1)), m.group(0).strip()) for m in _NUMBER.finditer(text)]
    found += [(f"size:{m.group(1).upper()}", m.group(0).strip()) for m in _SIZE.finditer(text)]
    return found


def supported_keys(sources: list[str]) -> set[str]:
    """Every fact key the sources state (a size's number also counts as a number: "Size 10" supports "10")."""
    keys = set()
    for source in sources:
        for key, _ in facts(source):
            keys.add(key)
    keys.update(f"size:{k}" for k in list(keys) if not k.startswith("size:"))
    return keys


def unsupported(text: str, sources: list[str]) -> list[str]:
    """The facts of `text` (as written, each once, in order) that no source states."""
    known = supported_keys(sources)
    seen, out = set(), []
    for key, written in facts(text):
        if key not in known and key not in seen:
            seen.add(key)
            out.append(written)
    return out


def highlighted(text: str, sources: list[str], label: str = "unsupported") -> list[tuple[str, str | None]]:
    """`text` in pieces, each unsupported fact's span labelled and the rest not: what a page highlights. The pieces
    join back to `text` exactly."""
    known = supported_keys(sources)
    spans = sorted({(m.start(), m.end()) for pattern, key in ((_NUMBER, lambda m: _number_key(m.group(1))),
                                                              (_SIZE, lambda m: f"size:{m.group(1).upper()}"))
                    for m in pattern.finditer(text) if key(m) not in known})
    pieces, at = [], 0
    for start, end in spans:
        if start < at:  # a size's number inside a number span already marked
            continue
        end = start + len(text[start:end].rstrip())
        if start > at:
            pieces.append((text[at:start], None))
        pieces.append((text[start:end], label))
        at = end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


def row_sources(row: dict) -> list[str]:
    """What a model was given for `row`: its title and the neighbours shown in its prompt (title + description)."""
    sources = [row.get("title") or ""]
    for neighbour in row.get("neighbours") or ():
        sources += [neighbour.get("title") or "", neighbour.get("content") or ""]
    return sources
