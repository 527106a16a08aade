"""Write the bundled sample: a small deterministic file in trn.json's exact schema, nothing copied from it.

Titles are composed from product families; each description follows from its title (so a model can learn
the mapping) in an Amazon-like voice. As in the real file, some products come as siblings: another colour, size
or format under its own uid and title, with the very same description. The file carries the real file's warts: a third empty `content`,
HTML entities and tags, exact duplicates, blank lines, malformed JSON, wrong types, invalid UTF-8.

    python -m descgen.sample_data            # rewrites dataset/sample/trn.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from .config import REPO_ROOT

FAMILIES = {
    "tutu": {
        "nouns": ["Ballet Tutu", "Tulle Skirt", "Party Tutu Dress", "Layered Tutu"],
        "who": ["Girls", "Toddler Girls", "Baby Girls", "Kids"],
        "attrs": ["Neon Pink", "Lavender", "Rainbow", "White Sparkle", "Hot Pink", "Mint Green"],
        "materials": ["soft tulle", "layered nylon mesh", "glitter tulle"],
        "uses": ["dance class", "birthday parties", "dress-up play", "recitals"],
        "claims": ["The elastic waistband stretches for a comfortable fit.",
                   "Three full layers give it a twirl-ready shape.",
                   "Machine washable on a gentle cycle."],
    },
    "coffee": {
        "nouns": ["French Press Coffee Maker", "Pour Over Coffee Dripper", "Cold Brew Pitcher",
                  "Espresso Cup Set", "Burr Coffee Grinder"],
        "who": ["Stainless Steel", "Borosilicate Glass", "Ceramic", "Bamboo"],
        "attrs": ["34 oz", "12 oz", "1 Liter", "8 Cup", "Matte Black", "Copper"],
        "materials": ["double-wall stainless steel", "heat-resistant borosilicate glass", "food-safe ceramic"],
        "uses": ["rich morning coffee", "loose leaf tea", "camping trips", "the office"],
        "claims": ["The four-level filter keeps grounds out of your cup.",
                   "It is dishwasher safe and easy to clean.",
                   "A heat-resistant handle stays cool to the touch."],
    },
    "book": {
        "nouns": ["A Novel", "Penguin Classics", "Paperback Edition", "Collected Stories", "A Memoir"],
        "who": ["The Art of War", "Pride and Prejudice", "The Silent Harbor", "Letters from the Valley",
                "The Last Lighthouse", "Moby Dick", "A Winter Garden"],
        "attrs": ["Annotated", "Illustrated", "Hardcover", "Large Print", "Reprint"],
        "materials": ["a new introduction", "explanatory notes", "a chronology of the author's life"],
        "uses": ["book clubs", "students", "lifelong readers", "a long journey"],
        "claims": ["Critics have called it a timeless work of remarkable depth.",
                   "This edition restores the original text.",
                   "It remains one of the most widely read books of its kind."],
    },
    "earbuds": {
        "nouns": ["Wireless Earbuds", "Bluetooth Headphones", "Sports Earphones", "Noise Cancelling Earbuds"],
        "who": ["Bluetooth 5.3", "True Wireless", "Waterproof", "Over-Ear"],
        "attrs": ["with Charging Case", "Black", "White", "40H Playtime", "with Microphone"],
        "materials": ["a compact charging case", "soft silicone ear tips", "a lightweight ergonomic design"],
        "uses": ["workouts", "commuting", "calls on the go", "long flights"],
        "claims": ["Pairing is instant once you open the case.",
                   "Touch controls let you skip tracks and take calls.",
                   "An IPX7 rating protects against sweat and rain."],
    },
    "toy": {
        "nouns": ["Building Blocks Set", "Wooden Puzzle", "Plush Teddy Bear", "Remote Control Car",
                  "Magnetic Tiles"],
        "who": ["Kids", "Toddlers", "Boys and Girls", "Preschool"],
        "attrs": ["100 Pieces", "Educational", "Ages 3+", "Rainbow Colors", "Large"],
        "materials": ["non-toxic BPA-free plastic", "sustainably sourced wood", "ultra-soft plush"],
        "uses": ["creative play", "early learning", "family game night", "gifts"],
        "claims": ["Every piece is smooth and safe for small hands.",
                   "It comes in a sturdy storage box.",
                   "It builds fine motor skills while kids have fun."],
    },
    "kitchen": {
        "nouns": ["Nonstick Frying Pan", "Chef Knife", "Cutting Board", "Cast Iron Skillet", "Mixing Bowl Set"],
        "who": ["Professional", "Stainless Steel", "Heavy Duty", "Premium"],
        "attrs": ["10 Inch", "8 Inch", "Set of 3", "Oven Safe", "Dishwasher Safe"],
        "materials": ["high-carbon stainless steel", "pre-seasoned cast iron", "organic bamboo"],
        "uses": ["everyday cooking", "searing steaks", "meal prep", "baking"],
        "claims": ["It heats evenly with no hot spots.",
                   "The ergonomic handle gives a secure grip.",
                   "It is built to last for years of daily use."],
    },
    "music": {
        "nouns": ["Greatest Hits", "Live in Concert", "Original Soundtrack", "The Complete Recordings"],
        "who": ["Miles Ahead", "The Blue Notes", "Symphony No. 5", "Night Train Trio", "Ella and Friends"],
        "attrs": ["Audio CD", "Vinyl", "Remastered", "Deluxe Edition", "2 Disc Set"],
        "materials": ["digitally remastered tracks", "a booklet of rare photographs", "bonus live recordings"],
        "uses": ["jazz lovers", "collectors", "quiet evenings", "road trips"],
        "claims": ["The sound is warm, clear and full of detail.",
                   "It includes several previously unreleased takes.",
                   "A classic recording that belongs in every collection."],
    },
}

BRANDS = ["Acme", "Northwind", "Lumen", "Bramble &amp; Co", "Kestrel", "Orchard", "Polaris", "Tidewater",
          "Juniper", "Harbor Lane"]

OPENERS = [
    "This {attr} {noun} is made of {material}, perfect for {use}.",
    "Meet the {noun} from our {who} line: {material} and a {attr} finish, ideal for {use}.",
    "Designed for {use}, this {who} {noun} pairs {material} with a {attr} look.",
    "Our {attr} {noun} brings {material} to {use}.",
    "{brand} presents the {noun}: {material}, a {attr} style, and made for {use}.",
]
CLOSERS = [
    "A great gift for anyone who loves {use}.",
    "Order today and enjoy it for {use}.",
    "Satisfaction guaranteed.",
    "",
]


def _title(who: str, noun: str, attr: str, brand: str | None, comma: bool) -> str:
    title = f"{who} {noun}, {attr}" if comma else f"{who} {noun} {attr}"
    return f"{brand} {title}" if brand else title


def make_row(rng: random.Random, index: int) -> tuple[dict, str]:
    """A row, and the title its sibling would have (the same product in another attribute)."""
    family = FAMILIES[rng.choice(sorted(FAMILIES))]
    noun, who, attr = rng.choice(family["nouns"]), rng.choice(family["who"]), rng.choice(family["attrs"])
    material, use = rng.choice(family["materials"]), rng.choice(family["uses"])
    brand = rng.choice(BRANDS)
    comma, branded = rng.random() >= 0.7, rng.random() < 0.8
    title = _title(who, noun, attr, brand if branded else None, comma)
    words = {"noun": noun.lower(), "who": who, "attr": attr.lower(), "material": material, "use": use,
             "brand": brand}
    sentences = [rng.choice(OPENERS).format(**words)]
    sentences += rng.sample(family["claims"], k=rng.randint(1, 3))
    sentences.append(rng.choice(CLOSERS).format(**words))
    content = " ".join(s for s in sentences if s)
    # the real file's markup: curly apostrophes as entities, ampersands, tags and line breaks
    if rng.random() < 0.25:
        content = content.replace("'", "&#8217;").replace(" and ", " &amp; ")
    if rng.random() < 0.15:
        content = content.replace(". ", ".<br><br>", 1)
        content = f"<b>{noun}</b> " + content
    if rng.random() < 0.1:
        title = title.replace("'", "&#39;").replace(" and ", " &amp; ")
    roll = rng.random()
    if roll < 1 / 3:
        content = ""
    elif roll < 0.35:
        content = title  # a content that only repeats the title
    elif roll < 0.36:
        content = "See more"  # a stub
    n_labels = rng.randint(1, 4)
    sibling_title = _title(who, noun, rng.choice([a for a in family["attrs"] if a != attr]),
                           brand if branded else None, comma)
    return {
        "uid": f"B{index:09d}",
        "title": title,
        "content": content,
        "target_ind": sorted(rng.sample(range(1_300_000), n_labels)),
        "target_rel": [1.0] * n_labels,
    }, sibling_title


SIBLING_SHARE = 0.15  # real trn.json: ~14 % of test rows have a differently titled sibling with their description


def generate_lines(n_rows: int = 3000, seed: int = 7) -> list[bytes]:
    """The sample file's lines (bytes, newline-less), warts included, in a deterministic order."""
    rng = random.Random(seed)
    made = [make_row(rng, i) for i in range(n_rows)]
    rows = [row for row, _ in made]
    # product families as the real file lists them: a sibling under its own uid and title, the same description
    for i in sorted(rng.sample(range(n_rows), k=int(n_rows * SIBLING_SHARE))):
        row, sibling_title = made[i]
        rows.append(dict(row, uid=f"S{i:09d}", title=sibling_title))
    lines = [json.dumps(row, ensure_ascii=False).encode("utf-8") for row in rows]
    # exact duplicates under a new uid, as re-listed products appear in the real file
    for i in rng.sample(range(n_rows), k=n_rows // 50):
        dup = dict(rows[i], uid=f"D{i:09d}")
        lines.insert(rng.randrange(len(lines)), json.dumps(dup, ensure_ascii=False).encode())
    malformed = [
        b'{"uid": "BROKEN1", "title": "Truncated line',
        b'["not", "an", "object"]',
        b'{"uid": "NOTITLE", "content": "Has no title field at all."}',
        b'{"uid": "INTTITLE", "title": 12345, "content": "Title is a number."}',
        b'{"uid": "BADUTF8", "title": "Caf\xe9 Latte Mug", "content": "Invalid UTF-8 byte above."}',
        b"",
        b"   ",
    ]
    for bad in malformed:
        lines.insert(rng.randrange(len(lines)), bad)
    return lines


def write_sample(path: Path, n_rows: int = 3000, seed: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(b"\n".join(generate_lines(n_rows, seed)) + b"\n")
    tmp.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "dataset" / "sample" / "trn.json"))
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(write_sample(Path(args.out), args.rows, args.seed))


if __name__ == "__main__":
    main()
