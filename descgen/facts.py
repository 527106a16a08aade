"""Facts a description states that its sources do not: the first thing a catalogue reviewer checks.

A description may say "34 oz", "Size 10", "neon pink" or "hardcover" only if its sources say it; otherwise it is
another product's fact (a copied sibling's size) or an invented one. A shipped text's source is the product's own
title (descgen/copyedit.py); a model's text is judged on what it was given, the title and the neighbours its prompt
showed (`row_sources`), and by a reviewer on the title and the real description (`truth_sources`).

A fact is one of:
- a number, with its unit when one follows ("34 oz", "2.5 inch", "1,000 mAh", "34-Ounce", "40H") or a count before
  it ("Set of 3", "Pack of 6"). It is supported when the same number appears anywhere in the sources, whatever the
  unit: "34-Ounce" in a title supports "34 oz". Numbers are compared as written, thousands separators dropped
  ("1,000" = "1000"); "3.50" and "3.5" are two facts. A decade ("1980s", "'60s") is its number's fact.
- a size: "Size XL", "size 10", or a size word (small, medium, large, x-large, XL, XXL, petite).
- a colour: one or more colour words in a row ("pink", "neon pink", "matte black", "rose gold"); supported when every
  one of its words is a colour word the sources state.
- a format: hardcover, paperback, Kindle edition, audio CD, vinyl, MP3, DVD, Blu-ray, audiobook, large print, board
  book (a book's or a record's edition).

- a credit: praise given a source, quoted or not, the source before or after it ("“A triumph.” — The Daily
  Planet", "A delightful novel - The Times", "“Gripping” The New Yorker", "says Jane Doe", "Praise for The Glass
  Orchard:"); supported when the sources state the source's words. A made-up endorsement is the worst fact a shop can
  publish: real book and record descriptions are editorial reviews made of such quotes, so a model learns their form
  and fills in famous names, and a copied blurb carries its own book's endorsements onto another.
- a name: a run of capitalised words that does not open a sentence (a person, a publication, a brand, a place, a
  series: "New York Times", "Bramble & Co", "Carson Ryder"); supported when the sources state each of its words, in
  any case: the title's own words, the rows shown and, for a reviewer, the reference are no names to flag. Words
  that another fact covers ("Neon Pink", "Hardcover") are that fact, not a name.

Each fact has a **kind** (volume, length, weight, count, time, colour, format, size, number, credit, name, ...): a
copy's fact of a kind the title also states can take the title's value (descgen/copyedit.py); a bare number, a name
and a credit have none.

Praise is never carried from another product, nor credited to a name a neighbour states: judged on what it was given,
a model's text may state the neighbours' facts but not their credits (`row_sources` leaves theirs out, and `vouch`,
the sources a credit's source must be named by, is the product's own title: "A library of stories. – Orchard" is
made-up praise even where a neighbour's text says "gathered by Orchard").

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
# a decade ("1980s", "'60s"): the number's s, which _NUMBER reads as a word; supported where a source states the number
_DECADE = re.compile(r"(?<![\w.])'?(\d{1,3}0)'?s\b")
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


# ------------------------------------------------------------------------------------------ credits and names
_CONNECTORS = frozenset("of the and for de la von van &".split())
# function words: a run of nothing else is no name, whatever its capitals ("This", "Our", "I'm" opening a sentence that
# lost its full stop). A short list of our own: scikit-learn's ENGLISH_STOP_WORDS costs 2 s of imports in every
# process that reads a fact (sklearn.feature_extraction pulls in scipy.stats)
_STOP_WORDS = frozenset("""a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each every few for from further had has have having he
her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves m s d ll ve re t""".split())
# a full stop after these ends no sentence ("No. 5", "Vol. 2", "Dr. Seuss"), and alone they name nothing
ABBREVIATIONS = frozenset("no vol vols st dr mr mrs ms jr sr inc ltd co vs etc eg ie approx fig pp ed eds".split())
# a capitalised word of letters (a code with digits, "VG-10", "IPX7", is no name), or an initial ("J. A. Kerley")
_CAPITALISED = r"[A-Z](?:[^\W\d_]|['’.-])*[^\W\d_'’](?![\w-])|[A-Z]\.?(?![\w-])"
# a source's or a name's words: capitalised words, "of" / "the" / "and" / "&" between them
_RUN = rf"(?:{_CAPITALISED})(?:(?:\s+(?:of|the|and|for|de|la|von|van|&))*\s+(?:{_CAPITALISED}))*"
_SOURCE = rf"(?P<source>{_RUN}(?:,\s*{_RUN})?)"
_OPEN_QUOTE, _CLOSE_QUOTE = "“\"‘'", "”\"’'"
_QUOTE = rf"[{_OPEN_QUOTE}][^“”\"]{{2,400}}?[{_CLOSE_QUOTE}]"
_DASH = r"(?:—|–|--|-)"
_SPACED_DASH = r"(?:\s*[—–]\s*|\s+--?\s+)"  # between words a hyphen is a dash only with spaces ("34-Ounce" is none)
_CREDITS = [
    # "“A triumph.” — The Daily Planet", "'A delightful novel' - The Times"
    re.compile(rf"{_QUOTE}\s*,?\s*{_DASH}\s*{_SOURCE}"),
    # "A delightful novel. — The Times" / "A delightful novel - The Times": a sentence credited after a dash (its
    # closing quote may stand alone: generated text opens a quote it never closes, and closes one it never opened)
    re.compile(rf"(?:(?<=^)|(?<=[.!?]\s))(?P<praise>[^.!?—–:“\"]{{3,300}}?[.!?]?[{_CLOSE_QUOTE}]?){_SPACED_DASH}{_SOURCE}(?=\s*[.!?]?\s*(?:$|[A-Z“\"]))"),
    # "“Gripping” The New Yorker.": a quote followed by its source, at a sentence's end
    re.compile(rf"{_QUOTE}\s+{_SOURCE}(?=\s*[.!?]?\s*(?:$|[“\"]))"),
    # "says The New Yorker", "according to Jane Doe", "writes Jane Doe of The Times"
    re.compile(rf"\b(?:says|said|writes|wrote|raves|hails|according to|praised by|acclaimed by)\s+{_SOURCE}"),
    # "The New Yorker calls it “…”", "Jane Doe says"
    re.compile(rf"{_SOURCE}\s+(?:says|said|writes|wrote|calls it|called it|raves|hails|praises)\b"),
    # "Praise for The Glass Orchard:" (the work praised: another book's name when copied)
    re.compile(rf"\bPraise for\s+{_SOURCE}\s*:"),
]
_NAME = re.compile(rf"(?<![\w'’-]){_RUN}")
# what every credit pattern above needs: a quote, a dash, or one of their verbs
_MAY_CREDIT = re.compile(r"[“\"‘—–]|(?<!\w)'|\s--?\s|\b(?:says|said|writes|wrote|raves|hails|according|praised|"
                         r"acclaimed|calls|called|praises|Praise)\b")
# what may stand before a sentence's first word: a sentence end, an opening quote or bracket, a colon, a dash, a bullet
_OPENER_BEFORE = re.compile(rf"(?:^|[.!?:;•*|{_OPEN_QUOTE}(\[{{]|{_DASH}|[.!?][{_CLOSE_QUOTE})\]]+)\s*$")


def _word_keys(text: str) -> tuple[str, ...]:
    """A name's or a source's words as keys ("word:times"), connectors left out: supported by any text stating them."""
    return tuple(f"word:{w}" for w in _WORD.findall(text.lower()) if w not in _CONNECTORS)


def credit_facts(text: str) -> list[Fact]:
    """The credits of `text` (possibly overlapping: `find` keeps the widest)."""
    if not _MAY_CREDIT.search(text):  # no quote, dash or verb of praise: no credit (most texts; ~10x less work)
        return []
    found = []
    for pattern in _CREDITS:
        for m in pattern.finditer(text):
            keys = _word_keys(m.group("source"))
            if keys:
                found.append(Fact(m.start(), m.end(), m.group(0), keys, frozenset({"credit"})))
    return found


def _name_facts(text: str, covered: list[Fact]) -> list[Fact]:
    """Runs of capitalised words outside the spans of other facts; a run's first word is left out where it opens a
    sentence (after a sentence end, an opening quote, a colon or a dash: capitalised by grammar, not by name)."""
    pieces, at = [], 0
    for fact in sorted(covered, key=lambda f: f.start):  # a mark no run crosses: "Neon Pink Tutu" is a colour and a "Tutu"
        pieces += [text[at:fact.start], "\x00" * (fact.end - fact.start)]
        at = fact.end
    masked = "".join(pieces) + text[at:]
    found = []
    for m in _NAME.finditer(masked):
        start, run = m.start(), m.group(0)
        if _OPENER_BEFORE.search(masked[max(start - 12, 0):start]) and (start <= 12 or masked[start - 12:start].strip()):
            first = re.match(r"\S+\s*", run)
            start, run = start + first.end(), run[first.end():]
            lead = re.match(r"(?:(?:of|the|and|for|de|la|von|van|&)\s+)*", run)  # "Bramble & Co": "& " leads
            start, run = start + lead.end(), run[lead.end():]
        run = run.rstrip(".")
        # a heading run into its text ("<b>Ballet Tutu</b> Designed for recitals", "… Dripper This press"): a last word
        # that is a function word, or a participle before a lower-case word, opens the next sentence
        while " " in run:
            head, last = run.rsplit(" ", 1)
            if not (last.lower() in _STOP_WORDS or (last.lower().endswith(("ed", "ing"))
                                                    and masked[start + len(run):start + len(run) + 2][1:].islower())):
                break
            run = head.rstrip(" &")
        if len(run) < 2 or not run[0].isupper() or run.lower() in ABBREVIATIONS or run.isupper() \
                or set(_WORD.findall(run.lower())) <= _STOP_WORDS:
            continue  # an acronym (USB-C, LED, BPA) is a spec; "This", "I'm" a sentence's first word without its stop
        keys = _word_keys(run)
        if keys:
            found.append(Fact(start, start + len(run), run, keys, frozenset({"name"})))
    return found


def without_credits(text: str) -> str:
    """`text` with every credit (praise and its source) taken out: what another product's description may support
    in a text written for this one (its praise is its own)."""
    for fact in sorted(_widest(credit_facts(text)), key=lambda f: -f.start):  # two patterns may find one credit
        text = text[:fact.start] + text[fact.end:]
    return text


def _phrases(table) -> re.Pattern:
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(table, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


_SIZE_WORD = _phrases(_SIZE_WORDS)
_FORMAT = _phrases(_FORMATS)
_WORD = re.compile(r"[a-z0-9]+")
_DIGIT = re.compile(r"\d")
_UPPER = re.compile(r"[A-Z]")
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
    return list(_find(text))


@functools.lru_cache(maxsize=16_384)
def _find(text: str) -> tuple[Fact, ...]:
    """`find`, kept: a copy's edits read a title, a sentence and the text again round after round."""
    candidates = []
    # each pattern only where a word it needs is present: a set lookup per word instead of a long alternation tried
    # at every character (~4x faster on a description; describe reads every copy it weighs)
    words = set(_WORD.findall(text.lower()))
    if _DIGIT.search(text):
        for m in _NUMBER.finditer(text):
            counted, unit = m.group(1), m.group(3)
            candidates.append(Fact(m.start(), m.end(), m.group(0), (_number_key(m.group(2)),),
                                   _unit_kinds(unit, bool(counted))))
        for m in _DECADE.finditer(text):
            candidates.append(Fact(m.start(), m.end(), m.group(0), (_number_key(m.group(1)),), frozenset({"decade"})))
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
    if _UPPER.search(text):
        candidates += credit_facts(text)
    kept = _widest(candidates)
    if _UPPER.search(text):
        kept = _widest(kept + _name_facts(text, kept))
    return tuple(sorted(kept, key=lambda f: f.start))


def _widest(candidates: list[Fact]) -> list[Fact]:
    """The candidates none of which overlaps another, the longest first (on a tie the one found first)."""
    kept: list[Fact] = []
    for fact in sorted(candidates, key=lambda f: (-(f.end - f.start), f.start)):
        if all(fact.end <= k.start or fact.start >= k.end for k in kept):
            kept.append(fact)
    return kept


def supported_keys(sources: list[str]) -> set[str]:
    """Every fact key the sources state (a size's number also counts as a number: "Size 10" supports "10", and a
    number "size:10")."""
    keys = set()
    for source in sources:
        keys |= _keys_of(source)
    return keys


@functools.lru_cache(maxsize=65_536)
def _keys_of(source: str) -> frozenset[str]:
    """One source's keys: cached, as a title is read once for its copy and again for every check of it. Every word
    it states supports a name or a credit's source of that word."""
    keys = {key for fact in find(source) for key in fact.keys}
    keys.update(f"size:{k}" for k in list(keys) if ":" not in k)
    keys.update(k.split(":", 1)[1] for k in list(keys) if k.startswith("size:"))
    keys.update(f"word:{w}" for w in _WORD.findall(source.lower()))
    return frozenset(keys)


def unsupported_facts(text: str, sources: list[str], own: list[str] | None = None,
                      vouch: list[str] | None = None) -> list[Fact]:
    """The facts of `text` some key of which no source states, in order. `own`: a copy's check (descgen/copyedit.py):
    only the facts these (the copied row's own title) state are its product's own; every other fact of a copied
    description is its family's (a series' founding year, a boxed set's page count) and stands. `vouch`: the sources
    that alone support a credit (a written text's: its own title, not the neighbours shown); None: all of `sources`."""
    known = supported_keys(sources)
    credited = supported_keys(vouch) if vouch is not None else known
    mine = supported_keys(own) if own is not None else None
    return [fact for fact in find(text)
            if not set(fact.keys) <= (credited if "credit" in fact.kinds else known)
            and (mine is None or set(fact.keys) <= mine)]


def unsupported(text: str, sources: list[str], own: list[str] | None = None,
                vouch: list[str] | None = None) -> list[str]:
    """The facts of `text` (as written, each once, in order) that no source states."""
    seen, out = set(), []
    for fact in unsupported_facts(text, sources, own, vouch):
        if fact.keys not in seen:
            seen.add(fact.keys)
            out.append(fact.written)
    return out


def credits(text: str) -> list[str]:
    """The credits of `text` (praise with its source), as written, as `find` keeps them."""
    return [fact.written for fact in find(text) if "credit" in fact.kinds]


def highlighted(text: str, sources: list[str], label: str = "unsupported", own: list[str] | None = None,
                vouch: list[str] | None = None) -> list[tuple[str, str | None]]:
    """`text` in pieces, each unsupported fact's span labelled and the rest not: what a page highlights. The pieces
    join back to `text` exactly."""
    pieces, at = [], 0
    for fact in unsupported_facts(text, sources, own, vouch):
        if fact.start > at:
            pieces.append((text[at:fact.start], None))
        pieces.append((text[fact.start:fact.end], label))
        at = fact.end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


def row_sources(row: dict) -> list[str]:
    """What a model was given for `row`: its title and the neighbours shown in its prompt (title + description, the
    description's credits left out: another product's praise is its own)."""
    sources = [row.get("title") or ""]
    for neighbour in row.get("neighbours") or ():
        sources += [neighbour.get("title") or "", without_credits(neighbour.get("content") or "")]
    return sources


def truth_sources(row: dict) -> list[str]:
    """What a reviewer holding the product's real description judges a text by: its title and that description."""
    return [row.get("title") or "", row.get("content") or row.get("reference") or ""]
