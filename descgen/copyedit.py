"""A text a shop can publish: a copied description made this product's, and any shipped text cleared of facts its
sources do not state and cut back to its last whole sentence.

A copy is another product's description. `copy_for` makes it this product's in two recorded steps:

1. **Adapt** (`swap_variant`): where the copied description repeats words of its own title that differ from this
   title (a colour, a size, a format), this title's words take their place ("Tutu Neon Pink" → "Tutu Neon Blue":
   "This neon pink tutu" → "This neon blue tutu").
2. **Change what is the copied product's alone** (`keep_supported`): every fact (descgen/facts.py: numbers and
   units, sizes, counts, colours, formats, names, credits) that the copied row's own title states and this title
   does not (its variant, its volume number, its name or brand) is
   - **replaced** by the title's value of the same kind where the title states exactly one ("This 1 liter french
     press" for a "…, 34 oz" title → "This 34 oz french press"), else
   - **dropped** with the least text that leaves whole sentences: the fact alone where it qualifies a noun after a
     determiner ("This 1 liter french press" → "This french press"; "a 8 cup" → "an" fixed), a parenthesis holding
     only it ("(34 oz)"), "in <fact>" before a verb ("The press in copper is" → "The press is"), a credited quote
     with its source, the sentence's last clause after a comma, colon or semicolon (", perfect for 8 cups."), else
     the whole sentence.
   What the copied title does not state is the family's and stands: on real rows a right copy is mostly a
   description several products share word for word (a series' blurb, another edition's text), and cutting "first
   published in London in 1785" from a puzzle series' blurb took its ROUGE-L from 0.98 to 0.92. Which copies are
   right is the gate's to promise (descgen/gate.py).

A written text (`written_for`) keeps only the facts its title states. The neighbours its prompt showed lend it their
form, not their facts: the gate declined to copy them, so most are other products. On the bundled sample's test split,
with the neighbours' facts allowed, 47 % of the written texts kept a number, size or name the true description does
not state (a plain digit check: 36 %); with the title alone, 4.5 % by the digit check, at 0.008 less ROUGE-L.
   A number the sources state is never changed, nor a word inside a longer word.

Every shipped text ends with a whole sentence (descgen/sentences.py): what follows the last one is dropped.
What was swapped, replaced and dropped is recorded (`Edited.replaced`, `Edited.dropped`) and kept as pieces a page
can mark (`Edited.pieces`). After the edits the text states none of the facts it was cleared of: each round re-reads
the text and a fact still there after two rounds takes its sentence with it (tests/test_copyedit.py checks every
catalogue pair of the bundled sample).
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field

from . import facts, sentences

# a fact right after one of these qualifies the noun that follows ("this 1 liter press", "our large tutu")
DETERMINERS = frozenset("a an the this that these those our your its their each every his her my one".split())
# ...unless what follows is not a noun phrase's next word ("the 34 oz is", "a large of")
_NOT_A_NOUN = frozenset("is are was were be and or but of to for with in on at by from as it that which than".split())
_VERBS_AFTER_IN = frozenset("is are was were makes make brings bring has have comes come gives give keeps keep "
                            "looks look works work".split())
# a sentence opening with these (or a participle: "Designed", "Looking") puts its main clause last
_OPENING_PHRASE = frozenset("with for whether if when while although though as from in on at after before since "
                            "because by".split())
_CLAUSE_SEPARATORS = (", ", "; ", ": ", " — ", " – ")


@dataclass
class Piece:
    """A run of the text as a page shows the edit: kept (label None), `swapped` (this title's variant words),
    `replaced` (the title's value for a fact) or `article` ("a" / "an" made to agree), each with `was`, the words it
    took the place of; or `dropped` (removed text, not part of the result)."""

    text: str
    label: str | None = None
    was: str = ""


@dataclass
class Edited:
    """A text after the edits: the result, and what was done."""

    text: str
    pieces: list[Piece] = field(default_factory=list)
    swaps: int = 0                                             # variant phrases swapped in (adapt)
    replaced: list[tuple[str, str]] = field(default_factory=list)  # (as it was, as it is): every swap and replacement
    dropped: list[str] = field(default_factory=list)           # each removed run of text, as it was

    def __post_init__(self):
        if not self.pieces and self.text:  # a text nothing was done to: one kept piece
            self.pieces = [Piece(self.text)]

    @property
    def edited(self) -> bool:
        return bool(self.replaced or self.dropped)

    @property
    def facts_replaced(self) -> int:
        """Facts given the title's value (variant swaps not counted)."""
        return sum(p.label == "replaced" for p in self.pieces)

    @property
    def kept_share(self) -> float:
        """The share of the text's characters that survived dropping (1.0 when nothing was dropped)."""
        gone = sum(len(p.text) for p in self.pieces if p.label == "dropped")
        return len(self.text) / (len(self.text) + gone) if self.text or gone else 0.0

    def marked(self) -> list[tuple[str, str | None]]:
        """(text, label) runs for a highlighted view: kept text unlabelled, new words "replaced" (variant swaps and
        facts alike), removed text "dropped" (shown in place: the page strikes it through)."""
        return [(p.text, "replaced" if p.label in ("swapped", "article") else p.label) for p in self.pieces if p.text]

    def record(self) -> dict:
        """What an output row says of the edit: JSON-ready."""
        return {"replaced": [list(pair) for pair in self.replaced], "dropped": list(self.dropped)}


def copy_for(description: str, neighbour_title: str, title: str) -> Edited:
    """The neighbour's description as this product's: its variant words swapped for this title's, and every fact of
    the copied product's own (one its own title states and this title does not: its size, colour, format, volume
    number, its name or brand) replaced by the title's value or dropped. The family's facts stand: what the copied
    title does not state is what the family shares (a series' founding year, "Small in size, yet large in recipe
    selection"), and a right copy is mostly a description several rows share word for word. What copy-or-write
    ships as a copy; it ends with a whole sentence."""
    pieces, swaps = swap_variant(description, neighbour_title, title)
    variant = {fact.keys for fact in facts.find(neighbour_title)}
    return keep_supported(pieces, title, [title], swaps, variant, own=[neighbour_title])


def written_for(text: str, title: str) -> Edited:
    """A text a model wrote, every fact its title does not state dropped (a neighbour's size, brand or praise
    included: the module docstring), and cut back to its last whole sentence (a text generation stopped at
    max_new_tokens ends mid-word): what copy-or-write ships as a written text. (Nothing is replaced: a fact the title
    does not state is another product's or the model's invention, not a variant's value.)"""
    return keep_supported([Piece(text)], title, [title], 0, set())


# ------------------------------------------------------------------------------------------ pieces
def shown(pieces: list[Piece]) -> str:
    return "".join(p.text for p in pieces if p.label != "dropped")


def _edit(pieces: list[Piece], start: int, end: int, new: str, label: str) -> list[Piece]:
    """`pieces` with shown[start:end] replaced by `new` (label "replaced") or removed (label "dropped"). Dropped runs
    already inside the span join the new dropped run; those at its edges stay where they are."""
    before, covered, after, at = [], [], [], 0
    for piece in pieces:
        size = 0 if piece.label == "dropped" else len(piece.text)
        a, b = at, at + size
        at = b
        if size == 0:
            (before if a <= start else after if a >= end else covered).append(piece)
            continue
        if b <= start:
            before.append(piece)
        elif a >= end:
            after.append(piece)
        else:
            if a < start:
                before.append(Piece(piece.text[:start - a], piece.label, piece.was))
            covered.append(Piece(piece.text[max(start - a, 0):end - a], piece.label, piece.was))
            if b > end:
                after.append(Piece(piece.text[end - a:], piece.label, piece.was))
    if label == "dropped":
        middle = [Piece("".join(p.text for p in covered), "dropped")]
    else:
        middle = [Piece(new, label, "".join(p.text for p in covered if p.label != "dropped"))]
    return _merge(before + middle + after)


def _merge(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for piece in pieces:
        if not piece.text:
            continue
        if out and out[-1].label == piece.label and piece.label in (None, "dropped"):
            out[-1] = Piece(out[-1].text + piece.text, piece.label)
        else:
            out.append(piece)
    return out


# ------------------------------------------------------------------------------------------ 1. adapt
def swap_variant(description: str, neighbour_title: str, title: str) -> tuple[list[Piece], int]:
    """The description's repeats of the neighbour title's words that differ from `title`, swapped for this title's
    (only short differing spans, <= 3 words each side; whole words only; the description's case kept)."""
    theirs, ours = neighbour_title.split(), title.split()
    matcher = difflib.SequenceMatcher(None, [_strip(w).lower() for w in theirs], [_strip(w).lower() for w in ours],
                                      autojunk=False)
    pieces, swaps = [Piece(description)], 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace" or i2 - i1 > 3 or j2 - j1 > 3:
            continue
        old_words, new_words = [_strip(w) for w in theirs[i1:i2]], [_strip(w) for w in ours[j1:j2]]
        if all(re.fullmatch(r"[\d.,/]+", w) for w in old_words + new_words) and i2 < len(theirs) and j2 < len(ours) \
                and _strip(theirs[i2]).lower() == _strip(ours[j2]).lower():
            # a number swaps with its unit ("12 Inch" → "8 Inch"), never a 12 of something else ("12 ounces")
            old_words, new_words = old_words + [_strip(theirs[i2])], new_words + [_strip(ours[j2])]
        old, new = " ".join(old_words).strip(), " ".join(new_words).strip()
        if not old or not new or old.lower() == new.lower() or not re.search(r"[A-Za-z0-9]", old):
            continue
        # never inside a longer word or number: "Red" is not in "Redwood", "1" not in "1.5"; "12 Inch" is "12-inch"
        phrase = r"[\s-]+".join(re.escape(w) for w in old.split())
        pattern = re.compile(rf"(?<![\w.]){phrase}(?![\w]|[.,]\d)", re.IGNORECASE)
        text = shown(pieces)
        # never inside praise: "Praise for The Fifth Floor" made "Praise for Mortal Remains" would credit this book
        # with another's reviews
        praise = facts.credit_facts(text)
        spans = [m for m in pattern.finditer(text) if _untouched(pieces, m.start(), m.end())
                 and not any(f.start < m.end() and m.start() < f.end for f in praise)]
        for m in reversed(spans):
            article = _article(text, m.start(), new)  # "a 12 inch" → "an 8 inch"
            pieces = _edit(pieces, m.start(), m.end(), _like(m.group(0), new), "swapped")
            for start, end, word, label in article:
                pieces = _edit(pieces, start, end, word, label)
        swaps += len(spans)
    return pieces, swaps


def _untouched(pieces: list[Piece], start: int, end: int) -> bool:
    """Whether shown[start:end] is all original text (a swapped-in word is not swapped again)."""
    at = 0
    for piece in pieces:
        if piece.label == "dropped":
            continue
        a, b = at, at + len(piece.text)
        at = b
        if a < end and b > start and piece.label is not None:
            return False
    return True


def _strip(word: str) -> str:
    return word.strip(",;:()[]\"'")


def _like(found: str, new: str) -> str:
    """`new` in the case style of `found`: lower, UPPER, Capitalised, or as the title writes it."""
    if found.islower():
        return new.lower()
    if found.isupper() and len(found) > 1:
        return new.upper()
    if found[:1].isupper() and found[1:].islower() and new[:1].islower():
        return new[:1].upper() + new[1:]
    return new


# ------------------------------------------------------------------------------------------ 2. keep supported facts
def keep_supported(pieces: list[Piece], title: str, sources: list[str], swaps: int, variant: set,
                   own: list[str] | None = None) -> Edited:
    """Replace or drop every fact of the text that `sources` do not state (module docstring; `own`: a copy's, only
    the facts its own title states are checked: facts.unsupported_facts), in rounds until none is left: a round plans
    one edit per fact on the current text (the widest wins where two overlap) and applies them from the end; from the
    third round on a leftover fact drops its sentence. Only a fact whose keys are in `variant` (what the copied row's
    own title states: its size, colour, format) may take the title's value; any other ("Weighs 12 ounces", a spec of
    that product) is dropped, never given a number that means something else. Then the text is cut back to its last
    whole sentence (descgen/sentences.py)."""
    title_facts = facts.find(title)
    for round_number in range(12):
        text = shown(pieces)
        bad = facts.unsupported_facts(text, sources, own)
        if not bad:
            break
        # one plan (its edits together) per fact; where plans overlap the one removing more text wins
        plans = [_plan(text, fact, title_facts if fact.keys in variant else [], whole_sentence=round_number >= 2)
                 for fact in bad]
        chosen: list[tuple] = []
        for plan in sorted(plans, key=lambda p: -(p[0][1] - p[0][0])):
            if all(e[1] <= c[0] or e[0] >= c[1] for e in plan for c in chosen):
                chosen += plan
        for start, end, new, label in sorted(set(chosen), key=lambda e: -e[0]):
            pieces = _edit(pieces, start, end, new, label)
    else:
        raise RuntimeError(f"could not clear the unsupported facts of {shown(pieces)!r}")
    text = shown(pieces)
    whole, cut = sentences.trim(text)
    if cut:  # the rest of the text, from where its last whole sentence ends, is dropped
        pieces = _edit(pieces, len(whole), len(text), "", "dropped")
    return _finish(pieces, swaps)


def _finish(pieces: list[Piece], swaps: int) -> Edited:
    text = shown(pieces)
    tidy = text.strip()
    if tidy != text:  # a dropped last sentence leaves the space before it, a dropped first one the space after
        lead = len(text) - len(text.lstrip())
        if lead:
            pieces = _edit(pieces, 0, lead, "", "dropped")
        trail = len(shown(pieces)) - len(shown(pieces).rstrip())
        if trail:
            pieces = _edit(pieces, len(shown(pieces)) - trail, len(shown(pieces)), "", "dropped")
    replaced = [(p.was, p.text) for p in pieces if p.label in ("swapped", "replaced", "article")]
    dropped = [p.text.strip() for p in pieces if p.label == "dropped" and p.text.strip()]
    return Edited(shown(pieces), pieces, swaps, replaced, dropped)


def _plan(text: str, fact, title_facts: list, whole_sentence: bool) -> list[tuple]:
    """The edits (start, end, new, label) that clear one unsupported fact: the title's value, or the least text to
    drop."""
    s0, s1 = _sentence(text, fact.start)
    if whole_sentence:
        return [_drop_sentence(text, s0, s1)]
    if "credit" in fact.kinds:
        return _drop_credit(text, fact, s0, s1)
    value = _title_value(fact, title_facts)
    if value is not None and not _states(text[s0:s1], value):  # "holds 8 cups (34 oz)" is not "34 oz (34 oz)"
        return [(fact.start, fact.end, _like(fact.written, value), "replaced")] + _article(text, fact.start, value)
    for rule in (_drop_parenthesis, _drop_modifier, _drop_in_phrase, _drop_last_clause):
        edits = rule(text, fact, s0, s1)
        if edits:
            return edits
    return [_drop_sentence(text, s0, s1)]


def _title_value(fact, title_facts: list) -> str | None:
    """The title's value of the fact's kind, where the title states exactly one (as the title writes it). A number, a
    name or a credit has no such value: a name is not another name's variant."""
    if fact.kinds & {"number", "name", "credit"}:
        return None
    values = {t.keys: t.written for t in title_facts if t.kinds & fact.kinds and "number" not in t.kinds}
    return next(iter(values.values())) if len(values) == 1 else None


def _states(sentence: str, value: str) -> bool:
    """Whether the sentence already states the fact `value`."""
    keys = {f.keys for f in facts.find(value)}
    return any(f.keys in keys for f in facts.find(sentence))


def _sentence(text: str, at: int) -> tuple[int, int]:
    """The span of the sentence holding position `at` (its end punctuation included, the space after not): Bling
    Fire's sentences (descgen/sentences.py), so "No. 5" and "J. R. R. Tolkien" end none."""
    start = 0
    for s0, s1 in _spans(text):
        if at < s1:
            return min(s0, at), s1
        start = s1
    return start, len(text)


@functools.lru_cache(maxsize=4096)
def _spans(text: str) -> tuple[tuple[int, int], ...]:
    """A text's sentence spans, kept for the rounds that plan on the same text (one segmenting each, ~20 µs)."""
    return tuple(sentences.spans(text))


def _drop_credit(text: str, fact, s0: int, s1: int) -> list[tuple]:
    """A credited quote ("“A triumph.” — The Daily Planet") goes with its source (and the full stop after it, where
    the text before it ends a sentence); praise credited in its own words ("A delightful novel - The Times", "Jane
    Doe says …") takes its sentence. A credit may run over what the segmenter calls two sentences ("“Gripping.”",
    "— Daily Planet."): its sentence runs to the end of the one its source ends in."""
    s1 = max(s1, _sentence(text, fact.end - 1)[1])
    if fact.written.startswith("Praise for"):  # a header: the quotes after it carry their own sources
        end = fact.end
        while end < len(text) and text[end] == " ":
            end += 1
        return [(fact.start, end, "", "dropped")]
    if fact.written[:1] in "“\"‘'":
        start, end = fact.start, fact.end
        while start > 0 and text[start - 1] == " ":
            start -= 1
        if end < len(text) and text[end] in ".!?" and (start == 0 or text[:start].rstrip()[-1:] in ".!?”\"')"):
            end += 1  # "Maine. “Gripping.” — Daily Planet. A quiet book." → "Maine. A quiet book."
        if start == 0:
            while end < len(text) and text[end] == " ":
                end += 1
        return [(start, end, "", "dropped")]
    return [_drop_sentence(text, s0, s1)]


def _drop_sentence(text: str, s0: int, s1: int) -> tuple:
    end = s1
    while end < len(text) and text[end].isspace():
        end += 1
    return (s0, end, "", "dropped")


def _drop_parenthesis(text: str, fact, s0: int, s1: int) -> list[tuple]:
    """'(34 oz)' holding only the fact: removed with the space before it."""
    open_at = text.rfind("(", s0, fact.start)
    close_at = text.find(")", fact.end, s1)
    if open_at < 0 or close_at < 0 or text[open_at + 1:fact.start].strip() or text[fact.end:close_at].strip(" ,"):
        return []
    start = open_at - 1 if open_at > 0 and text[open_at - 1] == " " else open_at
    return [(start, close_at + 1, "", "dropped")]


def _drop_modifier(text: str, fact, s0: int, s1: int) -> list[tuple]:
    """A fact qualifying the noun after it, behind a determiner (other facts may stand between): "This 1 liter
    french press" → "This french press". Not a capitalised colour before a capitalised word: that is a name
    ("The Blue Notes")."""
    after = re.match(r" ([A-Za-z][\w'-]*)", text[fact.end:s1])
    if not after or after.group(1).lower() in _NOT_A_NOUN:
        return []
    if "colour" in fact.kinds and fact.written[:1].isupper() and after.group(1)[:1].isupper() and fact.start > s0:
        return []
    start = fact.start
    for other in reversed(facts.find(text[s0:start])):  # "This large neon pink tutu": walk back over "large"
        if text[s0 + other.end:start] == " ":
            start = s0 + other.start
    before = re.search(r"(?:^|\s)([A-Za-z]+) $", text[s0:start])
    if not before or before.group(1).lower() not in DETERMINERS:
        return []
    edits = [(fact.start, fact.end + 1, "", "dropped")]
    # the article now stands before the next word, unless other facts still stand between
    return edits + (_article(text, start, after.group(1)) if start == fact.start else [])


def _article(text: str, at: int, next_word: str) -> list[tuple]:
    """'a' / 'an' right before position `at` made to agree with the word that now follows it ("a 1 liter press" →
    "an 8 cup press")."""
    m = re.search(r"(?:^|(?<=\s))(an?|An?) $", text[max(at - 4, 0):at])
    if not m:
        return []
    article, wanted = m.group(1), "an" if _takes_an(next_word) else "a"
    if article.lower() == wanted:
        return []
    start = at - 1 - len(article)
    return [(start, start + len(article), wanted.capitalize() if article[0].isupper() else wanted, "article")]


def _takes_an(word: str) -> bool:
    """Whether 'an' goes before `word`: a vowel sound at its start (numbers read aloud: 8, 11, 18, 80-89, 800...)."""
    word = word.strip().lower()
    if not word:
        return False
    if word[0].isdigit():
        digits = re.match(r"\d+", word.replace(",", "")).group(0)
        return digits.startswith("8") or digits in ("11", "18") or (len(digits) in (5, 6) and digits[:2] in ("11", "18"))
    if word.startswith(("uni", "use", "usu", "eu", "one", "once")):
        return False
    return word[0] in "aeiou" or word.startswith(("hour", "honest", "honor", "honour"))


def _drop_in_phrase(text: str, fact, s0: int, s1: int) -> list[tuple]:
    """'in <fact>' between a noun and its verb: "The Acme french press in copper is the answer" → "The Acme french
    press is the answer"."""
    before = text[s0:fact.start]
    after = re.match(r" ([a-z]+)\b", text[fact.end:s1])
    if not before.endswith(" in ") or not after or after.group(1) not in _VERBS_AFTER_IN or len(before) < 5:
        return []
    return [(fact.start - 4, fact.end, "", "dropped")]


def _drop_last_clause(text: str, fact, s0: int, s1: int) -> list[tuple]:
    """The fact in the sentence's last clause, after a comma, colon, semicolon or dash: that clause goes, the
    sentence's end punctuation stays ("It brews fast, perfect for 8 cups." → "It brews fast.")."""
    cut = max(text.rfind(sep, s0, fact.start) for sep in _CLAUSE_SEPARATORS)
    if cut <= s0 or any(text.find(sep, fact.end, s1) >= 0 for sep in _CLAUSE_SEPARATORS):
        return []
    kept = text[s0:cut].split()
    if len(kept) < 3:  # "Yes, it holds 8 cups." would leave "Yes."
        return []
    if kept[0].lower() in _OPENING_PHRASE or kept[0].lower().endswith(("ed", "ing")):
        return []  # "Designed for steaks, this 12 inch skillet ...": the main clause is the last one
    end = s1
    while end > fact.end and text[end - 1] in ".!?\"')]":
        end -= 1
    return [(cut, end, "", "dropped")]
