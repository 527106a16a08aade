"""A full-size stand-in for LF-AmazonTitles-1.3MM's trn.json, with the real file's title statistics: what the
full-scale benchmarks (bench/full_scale.py, bench/retrieval_bench.py) run on, since the real file is not here.

    python bench/standin.py                                   # bench/data/trn_full.json: 2,248,619 lines, ~1.9 GB
    python bench/standin.py --lines 200000 --out bench/data/trn_200k.json

What it copies from the real file (its schema, sizes and the properties retrieval and prepare meet; nothing of its
text):
- **Zipf vocabulary.** 300,000 made-up words drawn with P(rank r) ∝ 1 / (r + 2.7)^1.07: a few hundred words are in
  most titles ("set", "pack", "black"), most words are rare. Titles are 3-12 words plus a brand.
- **Families.** Most products stand alone; 18 % of lines belong to a product line of 2-5 variants (a colour, a size, a
  capacity, a book's format) sharing one description in which each variant names its own variant words; 6 % to a
  series of 6-60 titles ("The Best of Italy", "... of Mexico") sharing a publisher's blurb. So about one described
  row in seven has a sibling with (nearly) its description, as on real rows.
- **Long titles.** 0.2 % of products (~4,500 lines) have a title of 250-700 characters: 30-80 long made-up words with
  digits ("tonorhgm43"), as trn.json's longest titles run to several hundred tokens (a 570-character one is 512
  Phi-4-mini tokens): what once stopped the full profile's stage 1 (prompt.max_title_tokens cuts them).
- **Cut descriptions.** 40 % of descriptions stop mid-sentence (the last sentence cut after a few words, no full
  stop), as ~40 % of real `content` values do: what prepare trims to the last whole sentence (data.trim_to_sentence).
- **A third empty** `content` (drawn per line: a family has described and undescribed members), HTML entities
  (&amp; &#8217; &quot;) and <br> tags, `target_ind` / `target_rel` lists like the real file's.
- Lines in a shuffled order (a family is not contiguous), uids B000000001 ... in file order.

Deterministic for a given --seed; ~1-2 min for the full size on one core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import orjson

FULL_LINES = 2_248_619
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "data" / "trn_full.json"

COLOURS = ["Black", "White", "Red", "Navy Blue", "Neon Pink", "Lavender", "Forest Green", "Grey", "Silver", "Gold",
           "Rose Gold", "Teal", "Burgundy", "Beige", "Mint Green", "Hot Pink", "Charcoal", "Ivory", "Coral", "Olive"]
SIZES = ["Small", "Medium", "Large", "X-Large", "Size 6", "Size 8", "Size 10", "12 oz", "16 oz", "34 oz", "1 Liter",
         "2 Pack", "4 Pack", "10 Inch", "12 Inch", "Queen", "King", "Twin"]
FORMATS = ["Hardcover", "Paperback", "Kindle Edition", "Audio CD", "Mass Market Paperback", "Audible Audiobook",
           "DVD", "Blu-ray", "MP3 Download", "Vinyl"]
SERIES_HEADS = ["The Best of", "A Guide to", "Rough Guide to", "Lonely Planet", "Complete Works of", "Songs of",
                "Classic Tales from", "History of", "Cooking of", "Birds of"]
ENTITY = {"&": "&amp;", "'": "&#8217;", '"': "&quot;"}
LONG_TITLE_SHARE = 0.002   # products whose title is 250-700 characters of long words with digits
CUT_SHARE = 0.4            # descriptions that stop mid-sentence


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """`size` distinct made-up words of 2-4 syllables, in a random order (rank = position)."""
    onsets = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch",
              "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "tr", "th"]
    nuclei = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou", "y"]
    syllables = [o + n for o in onsets for n in nuclei]  # 300
    words, seen = [], set()
    while len(words) < size:
        count = rng.integers(2, 5, size=size)
        picks = rng.integers(0, len(syllables), size=(size, 4))
        for n, row in zip(count, picks):
            word = "".join(syllables[i] for i in row[:n])
            if word not in seen:
                seen.add(word)
                words.append(word)
                if len(words) == size:
                    break
    return words


class Zipf:
    """Draws word ranks with P(r) ∝ 1 / (r + 2.7)^1.07 (Mandelbrot's fit to product-title vocabularies)."""

    def __init__(self, size: int, rng: np.random.Generator):
        weights = 1.0 / (np.arange(size) + 2.7) ** 1.07
        self.cdf = np.cumsum(weights / weights.sum())
        self.rng = rng

    def draw(self, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cdf, self.rng.random(n)), len(self.cdf) - 1)


def sentence_text(words: list[str], zipf: Zipf, rng: np.random.Generator, n_words: int) -> str:
    """`n_words` Zipf words in sentences of 6-14 words, the first letter of each capitalised."""
    ranks = zipf.draw(n_words)
    out, start = [], 0
    while start < n_words:
        length = int(rng.integers(6, 15))
        chunk = [words[r] for r in ranks[start:start + length]]
        out.append(" ".join(chunk).capitalize() + ".")
        start += length
    return " ".join(out)


def cut_mid_sentence(text: str, rng: np.random.Generator) -> str:
    """For CUT_SHARE of texts, the last sentence stopped after a few of its words, without its full stop."""
    last = text.rfind(". ", 0, len(text) - 1)
    if rng.random() >= CUT_SHARE or last < 0:
        return text
    tail = text[last + 2:].rstrip(".").split()
    return text[:last + 2] + " ".join(tail[:max(1, len(tail) // 2)])


def warts(text: str, rng: np.random.Generator) -> str:
    """HTML entities for & ' " in a fifth of texts, a <br> tag in a tenth."""
    if rng.random() < 0.2:
        text = "".join(ENTITY.get(ch, ch) for ch in text)
    if rng.random() < 0.1:
        cut = text.find(". ")
        if cut > 0:
            text = text[:cut + 1] + "<br>" + text[cut + 1:]
    return text


def families(lines: int, words: list[str], zipf: Zipf, rng: np.random.Generator):
    """(title, description) pairs, family by family, until `lines` of them."""
    brands = [w.capitalize() for w in words[5_000:25_000]]
    made = 0
    while made < lines:
        kind = rng.random()
        brand = brands[int(rng.integers(0, len(brands)))]
        core = " ".join(words[r].capitalize() for r in zipf.draw(int(rng.integers(3, 11))))
        if kind < 0.76:  # a product on its own
            title = f"{brand} {core}"
            if rng.random() < LONG_TITLE_SHARE:  # trn.json's longest: hundreds of characters of part numbers and words
                title = f"{brand} " + " ".join(words[a] + words[b] + str(d) for a, b, d in zip(
                    zipf.draw(80), zipf.draw(80), rng.integers(1, 999, 80)))[:int(rng.integers(250, 701))].rstrip()
            yield title, cut_mid_sentence(sentence_text(words, zipf, rng, int(rng.integers(30, 170))), rng)
            made += 1
        elif kind < 0.94:  # a product line: variants sharing one description that names each variant's words
            pool = [COLOURS, SIZES, FORMATS][int(rng.integers(0, 3))]
            variants = rng.choice(len(pool), size=min(int(rng.integers(2, 6)), len(pool)), replace=False)
            blurb = cut_mid_sentence(sentence_text(words, zipf, rng, int(rng.integers(30, 120))), rng)  # one cut, shared
            for v in variants:
                variant = pool[int(v)]
                yield f"{brand} {core} {variant}", f"This {variant.lower()} {core.lower()}. {blurb}"
                made += 1
        else:  # a series: one publisher's blurb on every title
            head = SERIES_HEADS[int(rng.integers(0, len(SERIES_HEADS)))]
            blurb = cut_mid_sentence(sentence_text(words, zipf, rng, int(rng.integers(40, 120))), rng)
            for _ in range(int(rng.integers(6, 61))):
                subject = " ".join(words[r].capitalize() for r in zipf.draw(int(rng.integers(1, 3))))
                yield f"{head} {subject} ({brand} Series)", blurb
                made += 1


def generate(out: Path, lines: int = FULL_LINES, seed: int = 0, vocab_size: int = 300_000) -> Path:
    rng = np.random.default_rng(seed)
    words = vocabulary(vocab_size, rng)
    zipf = Zipf(vocab_size, rng)
    rows = []
    for title, description in families(lines, words, zipf, rng):
        rows.append((title, description))
        if len(rows) == lines:
            break
    order = rng.permutation(len(rows))
    empty = rng.random(len(rows)) < 1 / 3
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as fh:
        buffer = []
        for line, index in enumerate(order, 1):
            title, description = rows[index]
            labels = rng.integers(0, 1_305_265, size=int(rng.integers(1, 6)))
            buffer.append(orjson.dumps({
                "uid": f"B{line:09d}", "title": warts(title, rng),
                "content": "" if empty[line - 1] else warts(description, rng),
                "target_ind": labels.tolist(), "target_rel": [1.0] * len(labels)}))
            if len(buffer) == 50_000:
                fh.write(b"\n".join(buffer) + b"\n")
                buffer = []
        if buffer:
            fh.write(b"\n".join(buffer) + b"\n")
    tmp.replace(out)
    return out


def ensure(out: Path = DEFAULT_OUT, lines: int = FULL_LINES, seed: int = 0) -> Path:
    """The stand-in at `out`, generated once (a file of another line count is made anew)."""
    if out.exists():
        with open(out, "rb") as fh:
            if sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b"")) == lines:
                return out
    print(f"generating {lines:,} stand-in lines in {out} ...", file=sys.stderr, flush=True)
    return generate(out, lines, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=FULL_LINES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    path = generate(args.out, args.lines, args.seed)
    print(f"{path}: {path.stat().st_size / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
