"""Write the bundled sample: a small deterministic file in trn.json's exact schema, nothing copied from it.

It stands in for the real file in CI and the cpu profile, so it copies the real file's *statistics* (measured on
350 train / 120 test rows of the real trn.json with SmolLM2), not only its schema:

- **Product lines.** ~14 % of real test rows have a differently titled sibling in the training split (another
  colour, size or format) with the same description, and copying it scores ROUGE-L ~0.84. Here a product line is
  3-5 variants, each under its own uid and title; they share one description in which each variant names its own
  size or colour where the line's text mentions one (so copying a sibling is nearly, not always exactly, right).
- **Everything else is specific.** Outside the siblings, the nearest real title's description is another product's
  text (floor ROUGE-L ~0.11). Here a description names its own title's words (what it is, its line, its variant,
  its brand) and, drawn per product, what it is made of, what it is for and 2-3 claims from a pool of ten, in a
  shop's voice: two products of one category share style words and the odd claim, not their facts. (The floor is
  still ~0.30 there, not 0.11: a generated vocabulary this small shares more words than real text.)
- The real file's warts: a third empty `content` (drawn per row: a line may have described and undescribed
  variants), HTML entities and tags, content that only repeats the title, stubs, exact duplicates under a new
  uid, blank lines, malformed JSON, wrong types, invalid UTF-8.

`tests/test_sample_data.py` holds the sample to those statistics on the cpu profile's splits.

    python -m descgen.sample_data            # rewrites dataset/sample/trn.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from .config import REPO_ROOT

# Per category: nouns, makers' lines ("who"), the variant attributes a product line comes in, what a product is made
# of and for, and claims. A title is [brand] who noun[,] attr. Its description names the title's noun, attr, `who`
# or brand (learnable from the title) and, drawn per product, a material, a use and 2-3 claims: what a shop knows
# and the title does not say, so another product's description shares a category's voice, not its facts.
CATEGORIES = {
    "tutu": {
        "nouns": ["Ballet Tutu", "Tulle Skirt", "Party Tutu Dress", "Layered Tutu"],
        "who": ["Girls", "Toddler Girls", "Baby Girls", "Kids"],
        "attrs": ["Neon Pink", "Lavender", "Rainbow", "White Sparkle", "Hot Pink", "Mint Green", "Small", "Large"],
        "materials": ["soft tulle", "layered nylon mesh", "cotton-lined tulle", "glitter tulle", "stretch satin"],
        "uses": ["dance class", "dress-up play", "birthday parties", "recitals", "photo shoots", "Halloween"],
        "claims": ["The elastic waistband stretches for a comfortable fit.",
                   "Three full layers give it a twirl-ready shape.",
                   "It is machine washable on a gentle cycle.",
                   "A satin ribbon bow finishes the waist.",
                   "The lining keeps the tulle from scratching.",
                   "It packs flat for travel and springs back in minutes.",
                   "The hem is cut evenly so it hangs straight.",
                   "Pair it with a leotard or a simple tee.",
                   "Each one is hand checked before it ships.",
                   "The colours stay bright wash after wash."],
    },
    "coffee": {
        "nouns": ["French Press Coffee Maker", "Pour Over Coffee Dripper", "Cold Brew Pitcher", "Burr Coffee Grinder",
                  "Espresso Cup Set"],
        "who": ["Stainless Steel", "Borosilicate Glass", "Ceramic", "Bamboo"],
        "attrs": ["34 oz", "12 oz", "1 Liter", "8 Cup", "Matte Black", "Copper", "White"],
        "materials": ["double-wall stainless steel", "heat-resistant borosilicate glass", "food-safe ceramic",
                      "natural bamboo", "hand-blown glass"],
        "uses": ["rich morning coffee", "a clean bright cup", "smooth iced coffee", "an even grind",
                 "espresso at home", "camping trips", "the office"],
        "claims": ["The four-level filter keeps grounds out of your cup.",
                   "It is dishwasher safe and easy to clean.",
                   "A heat-resistant handle stays cool to the touch.",
                   "The lid locks in heat while it steeps.",
                   "Measurement marks on the side take the guesswork out.",
                   "A non-slip base keeps it steady on the counter.",
                   "It works with any ground coffee or loose tea.",
                   "The spout pours without a drip.",
                   "Spare filters are included in the box.",
                   "It is free of BPA and lead."],
    },
    "book": {
        "nouns": ["A Novel", "Penguin Classics", "Paperback Edition", "Collected Stories", "A Memoir"],
        "who": ["The Art of War", "Pride and Prejudice", "The Silent Harbor", "Letters from the Valley",
                "The Last Lighthouse", "Moby Dick", "A Winter Garden"],
        "attrs": ["Annotated", "Illustrated", "Hardcover", "Large Print", "Reprint", "Kindle Edition"],
        "materials": ["a new introduction", "explanatory notes", "a map of the coast", "the author's own letters",
                      "a reading group guide", "a glossary of sea terms", "a chronology of the author's life",
                      "acid-free paper"],
        "uses": ["anyone who loves a long story", "students and teachers", "reading on the go", "short evenings",
                 "readers of real lives", "book clubs", "a long journey"],
        "claims": ["Critics have called it a timeless work of remarkable depth.",
                   "This edition restores the original text.",
                   "It remains one of the most widely read books of its kind.",
                   "The type is set for easy reading.",
                   "A foreword places the book in its time.",
                   "Its chapters are short enough for a commute.",
                   "Readers return to it year after year.",
                   "The binding lies flat when open.",
                   "It has been translated into over forty languages.",
                   "Discussion questions close the volume."],
    },
    "earbuds": {
        "nouns": ["Wireless Earbuds", "Bluetooth Headphones", "Sports Earphones", "Noise Cancelling Earbuds"],
        "who": ["Bluetooth 5.3", "True Wireless", "Waterproof", "Over-Ear"],
        "attrs": ["with Charging Case", "Black", "White", "40H Playtime", "with Microphone", "Blue"],
        "materials": ["a low-latency chip", "a compact charging case", "a sealed shell", "memory foam cushions",
                      "soft silicone ear tips"],
        "uses": ["workouts", "long flights", "running", "commuting", "calls on the go", "the gym"],
        "claims": ["Pairing is instant once you open the case.",
                   "Touch controls let you skip tracks and take calls.",
                   "An IPX7 rating protects against sweat and rain.",
                   "Fast charging gives an hour of music in ten minutes.",
                   "Three sizes of ear tips are in the box.",
                   "The microphone keeps your voice clear on calls.",
                   "They reconnect to your last device on their own.",
                   "Deep bass comes through without distortion.",
                   "A USB-C cable is included.",
                   "They weigh less than a coin each."],
    },
    "toy": {
        "nouns": ["Building Blocks Set", "Wooden Puzzle", "Plush Teddy Bear", "Remote Control Car", "Magnetic Tiles"],
        "who": ["Kids", "Toddlers", "Boys and Girls", "Preschool"],
        "attrs": ["100 Pieces", "Educational", "Ages 3+", "Rainbow Colors", "Large", "Travel Size"],
        "materials": ["non-toxic BPA-free plastic", "sustainably sourced wood", "ultra-soft plush",
                      "rounded, chunky pieces", "water-based paints"],
        "uses": ["creative play", "early learning", "bedtime cuddles", "racing in the yard", "building towers",
                 "family game night", "rainy afternoons"],
        "claims": ["Every piece is smooth and safe for small hands.",
                   "It comes in a sturdy storage box.",
                   "It builds fine motor skills while kids have fun.",
                   "Bright colours help little ones learn shapes.",
                   "It meets every safety standard for young children.",
                   "Parents can join in for hours of play.",
                   "The pieces wipe clean with a damp cloth.",
                   "No batteries or tools are needed.",
                   "It makes a great first gift.",
                   "Extra pieces can be added from our other sets."],
    },
    "kitchen": {
        "nouns": ["Nonstick Frying Pan", "Chef Knife", "Cutting Board", "Cast Iron Skillet", "Mixing Bowl Set"],
        "who": ["Professional", "Stainless Steel", "Heavy Duty", "Premium"],
        "attrs": ["10 Inch", "8 Inch", "Set of 3", "Oven Safe", "Dishwasher Safe", "12 Inch"],
        "materials": ["high-carbon stainless steel", "tri-ply stainless steel", "pre-seasoned cast iron",
                      "organic bamboo", "forged carbon steel"],
        "uses": ["everyday cooking", "precise slicing", "meal prep", "searing steaks", "baking", "weeknight dinners",
                 "holiday feasts"],
        "claims": ["It heats evenly with no hot spots.",
                   "The ergonomic handle gives a secure grip.",
                   "It is built to last for years of daily use.",
                   "It works on gas, electric and induction stoves.",
                   "Food releases easily and cleanup takes seconds.",
                   "A hanging loop saves space in your kitchen.",
                   "The edge stays sharp through months of use.",
                   "It is safe in the oven up to 500 degrees.",
                   "A lifetime warranty covers every piece.",
                   "Rubber feet keep it from sliding."],
    },
    "music": {
        "nouns": ["Greatest Hits", "Live in Concert", "Original Soundtrack", "The Complete Recordings"],
        "who": ["Miles Ahead", "The Blue Notes", "Symphony No. 5", "Night Train Trio", "Ella and Friends"],
        "attrs": ["Audio CD", "Vinyl", "Remastered", "Deluxe Edition", "2 Disc Set", "MP3 Download"],
        "materials": ["digitally remastered tracks", "a booklet of rare photographs", "a full orchestra",
                      "bonus live recordings", "liner notes by the producer", "a 180-gram pressing"],
        "uses": ["fans old and new", "the feel of a live show", "movie lovers", "collectors", "quiet evenings",
                 "road trips"],
        "claims": ["The sound is warm, clear and full of detail.",
                   "It includes several previously unreleased takes.",
                   "A classic recording that belongs in every collection.",
                   "The tracks run in the order of the original release.",
                   "It was recorded in a single night.",
                   "The mastering brings out every instrument.",
                   "Some songs appear here for the first time.",
                   "It comes in a gatefold sleeve.",
                   "It spent months at the top of the charts.",
                   "The closing track is a fan favourite."],
    },
}

BRANDS = ["Acme", "Northwind", "Lumen", "Bramble &amp; Co", "Kestrel", "Orchard", "Polaris", "Tidewater",
          "Juniper", "Harbor Lane", "Fernwood", "Silverline", "Maple &amp; Pine", "Cobalt", "Wren"]

# {attr} is the variant's own size, colour or format: a product line's variants share every other word
OPENERS = [
    "This {attr} {noun} is made of {material}, perfect for {use}.",
    "Meet the {noun} from our {who} line: {material} and a {attr} finish, ideal for {use}.",
    "Designed for {use}, this {who} {noun} pairs {material} with a {attr} look.",
    "Our {attr} {noun} brings {material} to {use}.",
    "{brand} presents the {noun}: {material}, a {attr} style, and made for {use}.",
    "Looking for {use}? The {brand} {noun} in {attr} is the answer.",
    "Built from {material}, the {who} {noun} makes {use} simple.",
    "The {attr} {who} {noun} was made with {use} in mind.",
]
CLOSERS = [
    "A great gift for anyone who loves {use}.",
    "Order today and enjoy it for {use}.",
    "Satisfaction guaranteed.",
    "Backed by our friendly customer service.",
    "Add it to your cart today.",
    "",
]

# Rows in product lines of 3-5 variants. The cpu profile trains on 440 of ~1,960 eligible rows (22 %), so a line
# member's sibling is in train with 1 − 0.78³ ≈ 0.5 for a line of 4: 30 % of rows → 12 % of test rows find one
# (measured; the real file: 14 %).
LINE_SHARE = 0.30
LINE_SIZES = (3, 4, 5)
# a product starts a line with p = s / (s + 4 (1 − s)): 4p lines' rows per 4p + (1 − p) rows is s, lines being ~4 long
LINE_START = LINE_SHARE / (LINE_SHARE + 4 * (1 - LINE_SHARE))


def _title(who: str, noun: str, attr: str, brand: str | None, comma: bool) -> str:
    title = f"{who} {noun}, {attr}" if comma else f"{who} {noun} {attr}"
    return f"{brand} {title}" if brand else title


def _product(rng: random.Random) -> dict:
    """A product (line): its category's words, its text template, and how its title is written."""
    category = CATEGORIES[rng.choice(sorted(CATEGORIES))]
    sentences = [rng.choice(OPENERS)] + rng.sample(category["claims"], k=rng.randint(2, 3)) + [rng.choice(CLOSERS)]
    return {"category": category, "noun": rng.choice(category["nouns"]), "who": rng.choice(category["who"]),
            "material": rng.choice(category["materials"]), "use": rng.choice(category["uses"]),
            "brand": rng.choice(BRANDS), "branded": rng.random() < 0.8, "comma": rng.random() >= 0.7,
            "template": " ".join(s for s in sentences if s), "entities": rng.random() < 0.25,
            "markup": rng.random() < 0.15}


def _variant(rng: random.Random, product: dict, attr: str, uid: str) -> dict:
    """One row of a product: its title with `attr`, the product's description naming `attr`, the file's warts."""
    noun, who, brand = product["noun"], product["who"], product["brand"]
    title = _title(who, noun, attr, brand if product["branded"] else None, product["comma"])
    content = product["template"].format(noun=noun.lower(), who=who, attr=attr.lower(), brand=brand,
                                         material=product["material"], use=product["use"])
    if product["entities"]:
        content = content.replace("'", "&#8217;").replace(" and ", " &amp; ")
    if product["markup"]:
        content = f"<b>{noun}</b> " + content.replace(". ", ".<br><br>", 1)
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
    return {"uid": uid, "title": title, "content": content,
            "target_ind": sorted(rng.sample(range(1_300_000), n_labels)), "target_rel": [1.0] * n_labels}


def make_rows(rng: random.Random, n_rows: int) -> list[dict]:
    """`n_rows` rows: stand-alone products, and product lines whose variants follow one another (as the real file
    lists them), each variant under its own uid."""
    rows: list[dict] = []
    while len(rows) < n_rows:
        product = _product(rng)
        attrs = product["category"]["attrs"]
        if rng.random() < LINE_START:
            for attr in rng.sample(attrs, k=min(rng.choice(LINE_SIZES), len(attrs), n_rows - len(rows))):
                rows.append(_variant(rng, product, attr, f"S{len(rows):09d}"))
        else:
            rows.append(_variant(rng, product, rng.choice(attrs), f"B{len(rows):09d}"))
    return rows


def generate_lines(n_rows: int = 3400, seed: int = 7) -> list[bytes]:
    """The sample file's lines (bytes, newline-less), warts included, in a deterministic order."""
    rng = random.Random(seed)
    rows = make_rows(rng, n_rows)
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


def write_sample(path: Path, n_rows: int = 3400, seed: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(b"\n".join(generate_lines(n_rows, seed)) + b"\n")
    tmp.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "dataset" / "sample" / "trn.json"))
    parser.add_argument("--rows", type=int, default=3400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(write_sample(Path(args.out), args.rows, args.seed))


if __name__ == "__main__":
    main()
