"""Write the bundled sample: a small deterministic file in trn.json's exact schema, nothing copied from it.

It stands in for the real file in CI and the cpu profile, so it copies the real file's *statistics* (measured on
350 train / 120 test rows of the real trn.json with SmolLM2), not only its schema, and the trade-off copy-or-write
meets there: a right copy scores far above what a small model writes, a wrong one a little below it.

- **Product lines.** ~15 % of real described rows have a nearest neighbour whose description scores >= 0.5 ROUGE-L
  against theirs (a sibling: another colour, size or format; a series blurb), ~0.86 on average. Here a product line is
  3-5 variants, each under its own uid and title; they share one description in which each variant names its own
  size or colour, and half the variants word one claim their own way. Half the products carry a series name of
  their maker's in the title (one rare word a line shares, as "Chambord" does). On the cpu profile's splits: 20 %
  of test rows (32 of 160), 0.74 (descriptions are short, 3-6 sentences, so one reworded claim weighs more than on
  real rows).
- **Everything else is another product's text.** Outside the siblings the nearest real title's description overlaps
  the true one ~0.11 ROUGE-L, a little below what the fine-tune writes. Here ten makers each write in a house style
  (an opening template of their own, one of two promises, a sign-off: a seller's boilerplate, learnable from the
  brand in the title), and a description names its own title's words (what it is, its line, its variant, its brand)
  and draws per product a material, a use, 1-2 claims from a pool of 30 per category and, for 40 %, a spec with
  numbers of its own (pages, hours, inches): what a shop knows and the title does not say. The nearest other
  product is mostly the same kind of product, line and variant from another maker, whose description overlaps
  ~0.19 (a generated vocabulary shares more function words than real text). On the cpu profile the fine-tune writes
  0.22 on such rows against a made-over wrong copy's 0.20, so the gate writes 118 of 160 test rows and copies 42
  (the former sample's wrong copies overlapped 0.30, above what its fine-tune wrote: a gate copied every row).
- **Other products' facts.** A copied description states sizes, colours, formats and specs its title does not
  (65 % of the test rows' nearest descriptions): what descgen/copyedit.py must replace or drop.
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
# of and for, claims, and spec sentences that state a product's own numbers. A title is [brand] who noun[,] attr. Its
# description names the title's noun, attr, `who` or brand (learnable from the title) and, drawn per product, a
# material, a use, 2-4 claims from a pool of 30 and, for some, a spec with numbers of its own: what a shop knows and
# the title does not say. Pools this size make two products of one category share about as much text as two real
# descriptions do (tests/test_sample_data.py measures it), so another product's description is a poor answer.
CATEGORIES = {
    "tutu": {
        "nouns": ["Ballet Tutu", "Tulle Skirt", "Party Tutu Dress", "Layered Tutu", "Petticoat Skirt"],
        "who": ["Girls", "Toddler Girls", "Baby Girls", "Kids", "Little Girls"],
        "attrs": ["Neon Pink", "Lavender", "Rainbow", "White Sparkle", "Hot Pink", "Mint Green", "Small", "Large"],
        "materials": ["soft tulle", "layered nylon mesh", "cotton-lined tulle", "glitter tulle", "stretch satin",
                      "organza over jersey", "sequined chiffon", "brushed tricot", "double-knit lycra",
                      "scalloped lace"],
        "uses": ["dance class", "dress-up play", "birthday parties", "recitals", "photo shoots", "Halloween",
                 "flower girl duty", "princess tea parties", "holiday pageants", "twirling around the house"],
        "claims": ["The elastic waistband stretches for a comfortable fit.",
                   "Three full layers give it a twirl-ready shape.",
                   "Toss it in the washer on a gentle cycle.",
                   "A satin ribbon bow finishes the waist.",
                   "Its lining keeps the tulle from scratching.",
                   "It packs flat for travel and springs back in minutes.",
                   "Evenly cut hems hang straight.",
                   "Pair it with a leotard or a simple tee.",
                   "Each one is hand checked before it ships.",
                   "Colours stay bright wash after wash.",
                   "Little dancers love how it swishes.",
                   "Grandparents often buy two, one to keep at their place.",
                   "Nothing itches, even after a whole afternoon.",
                   "Matching hair clips sold separately.",
                   "Puffy volume holds up through endless spins.",
                   "Stitching along the seams resists tugging.",
                   "Mothers tell us it survives the playground.",
                   "Layers of sparkle catch stage lights beautifully.",
                   "No loose threads or glitter shedding on carpets.",
                   "Wide waistbands never dig into tummies.",
                   "Folded in tissue paper, ready for gifting.",
                   "Dress codes for ballet schools usually accept it.",
                   "Velvet trim adds a touch of elegance.",
                   "Our seamstresses sew every piece by hand.",
                   "Costume parties become instant hits.",
                   "Gentle fabrics suit sensitive skin.",
                   "Comes wrapped with a keepsake tag.",
                   "Easy pull-on design means no fiddly zippers.",
                   "Lightweight enough for hot summer recitals.",
                   "Photographs wonderfully in natural light."],
        "specs": ["Fits waists from {n1} to {n2} inches.", "Length: {n1} inches from waist to hem.",
                  "Recommended for ages {n1} to {n2} years.", "Made with {n1} layers of netting."],
    },
    "coffee": {
        "nouns": ["French Press Coffee Maker", "Pour Over Coffee Dripper", "Cold Brew Pitcher", "Burr Coffee Grinder",
                  "Espresso Cup Set", "Milk Frother"],
        "who": ["Stainless Steel", "Borosilicate Glass", "Ceramic", "Bamboo", "Cast Aluminum"],
        "attrs": ["34 oz", "12 oz", "1 Liter", "8 Cup", "Matte Black", "Copper", "White"],
        "materials": ["double-wall stainless steel", "heat-resistant borosilicate glass", "food-safe ceramic",
                      "natural bamboo", "hand-blown glass", "brushed aluminum", "enamel-coated iron",
                      "BPA-free tritan", "walnut accents", "conical steel burrs"],
        "uses": ["rich morning coffee", "a clean bright cup", "smooth iced coffee", "an even grind",
                 "espresso at home", "camping trips", "the office", "lazy weekend brunches", "loose-leaf tea",
                 "frothy cappuccinos"],
        "claims": ["A four-level filter keeps grounds out of your cup.",
                   "Dishwasher safe and easy to clean.",
                   "Heat-resistant handles stay cool to the touch.",
                   "Its lid locks in heat while it steeps.",
                   "Measurement marks on the side take the guesswork out.",
                   "Non-slip bases keep it steady on counters.",
                   "Works with any ground coffee or loose tea.",
                   "The spout pours without a drip.",
                   "Spare filters are included in the box.",
                   "Free of BPA and lead.",
                   "Baristas appreciate the consistent extraction.",
                   "Rinse under warm water and let air dry.",
                   "Insulation keeps coffee hot for an hour.",
                   "Grind settings range from powdery fine to coarse.",
                   "Compact footprint saves precious counter space.",
                   "Brewing takes about four minutes.",
                   "Replacement parts ship quickly from our warehouse.",
                   "Thick walls resist cracking from boiling water.",
                   "Tasting notes come through clearly.",
                   "Silicone seals prevent leaks in your bag.",
                   "Morning routines get simpler.",
                   "No paper filters needed, ever.",
                   "Polished finishes resist fingerprints.",
                   "Cold brew concentrate keeps for two weeks refrigerated.",
                   "Ergonomic grips suit left and right hands.",
                   "Gift boxes make it a housewarming favourite.",
                   "Reviewers praise its sturdy plunger.",
                   "Assembly takes under a minute.",
                   "Sediment stays at the bottom where it belongs.",
                   "Quiet operation will not wake the household."],
        "specs": ["It brews {n1} cups at a time.", "Weighs just {n1} ounces empty.", "Stands {n1} inches tall.",
                  "Offers {n1} grind settings.", "Backed by a {n1}-year warranty."],
    },
    "book": {
        "nouns": ["A Novel", "Penguin Classics", "Paperback Edition", "Collected Stories", "A Memoir",
                  "Complete Works"],
        "who": ["The Art of War", "Pride and Prejudice", "The Silent Harbor", "Letters from the Valley",
                "The Last Lighthouse", "Moby Dick", "A Winter Garden", "The Glass Orchard"],
        "attrs": ["Annotated", "Illustrated", "Hardcover", "Large Print", "Reprint", "Kindle Edition", "Paperback"],
        "materials": ["a new introduction", "explanatory notes", "a map of the coast", "the author's own letters",
                      "a reading group guide", "a glossary of sea terms", "a chronology of the author's life",
                      "acid-free paper", "woodcut illustrations", "an afterword by a leading scholar"],
        "uses": ["anyone who loves a long story", "students and teachers", "reading on the go", "short evenings",
                 "readers of real lives", "book clubs", "a long journey", "history buffs", "quiet winter nights",
                 "gifting to a bookish friend"],
        "claims": ["Critics have called it a timeless work of remarkable depth.",
                   "This edition restores the original text.",
                   "Generations of readers have treasured its pages.",
                   "Type set generously for easy reading.",
                   "A foreword places the book in its time.",
                   "Short chapters suit a commute.",
                   "Readers return to it year after year.",
                   "Bindings lie flat when open.",
                   "Translated into dozens of languages worldwide.",
                   "Discussion questions close the volume.",
                   "Haunting imagery lingers long after the final chapter.",
                   "Its heroine remains among literature's most beloved.",
                   "Scholars still debate its ending.",
                   "Footnotes explain archaic phrases without clutter.",
                   "Vivid characters leap off every page.",
                   "Teachers assign it across many curricula.",
                   "Sea storms and quiet harbors shape its mood.",
                   "A bestseller upon first publication.",
                   "Elegant prose rewards slow reading.",
                   "Widely regarded as the definitive translation.",
                   "Cover art reproduces a period painting.",
                   "Family secrets unravel across three summers.",
                   "Its wisdom applies to business and life alike.",
                   "Letters between sisters reveal hidden loves.",
                   "Rich historical detail brings the era alive.",
                   "Filmed twice for television.",
                   "Ribbon markers help you keep your place.",
                   "Perfect for reading aloud together.",
                   "Winner of several literary prizes.",
                   "An unforgettable portrait of resilience."],
        "specs": ["{n1} pages.", "First published in {year}.", "Includes {n1} full-page illustrations.",
                  "Collects {n1} stories written over {n2} years."],
    },
    "earbuds": {
        "nouns": ["Wireless Earbuds", "Bluetooth Headphones", "Sports Earphones", "Noise Cancelling Earbuds",
                  "Open Ear Headphones"],
        "who": ["Bluetooth 5.3", "True Wireless", "Waterproof", "Over-Ear", "Bone Conduction"],
        "attrs": ["with Charging Case", "Black", "White", "40H Playtime", "with Microphone", "Blue", "Rose Gold"],
        "materials": ["a low-latency chip", "a compact charging case", "a sealed shell", "memory foam cushions",
                      "soft silicone ear tips", "graphene drivers", "titanium-coated diaphragms",
                      "dual beamforming microphones", "a braided cable", "adaptive noise cancellation"],
        "uses": ["workouts", "long flights", "running", "commuting", "calls on the go", "the gym", "gaming sessions",
                 "late-night podcasts", "cycling", "focused study"],
        "claims": ["Pairing is instant once you open the case.",
                   "Touch controls let you skip tracks and take calls.",
                   "Sweat and rain cannot get inside.",
                   "Fast charging gives an hour of music in ten minutes.",
                   "Ear tips in several sizes are in the box.",
                   "Your voice stays clear on calls.",
                   "They reconnect to your last device on their own.",
                   "Deep bass comes through without distortion.",
                   "A USB-C cable is included.",
                   "They weigh less than a coin each.",
                   "Ambient mode lets traffic sounds through when needed.",
                   "Voice assistants answer with a double tap.",
                   "Lag-free audio keeps video in sync.",
                   "Wing tips lock them in place during sprints.",
                   "Switch between phone and laptop seamlessly.",
                   "Crisp highs never sound harsh.",
                   "The case slips easily into a coin pocket.",
                   "Firmware updates arrive through our app.",
                   "Custom equalizer presets suit every genre.",
                   "Comfortable enough to forget you are wearing them.",
                   "Wireless charging pads work with the case.",
                   "Battery indicators show exactly what remains.",
                   "Dust covers protect charging contacts.",
                   "Support for high-resolution codecs.",
                   "Either bud works alone in mono mode.",
                   "Pressure relief vents prevent ear fatigue.",
                   "Reliable connection up to the far end of a house.",
                   "Engineered in collaboration with sound designers.",
                   "Loud cafes fade into silence.",
                   "Magnetic buds snap into place when charging."],
        "specs": ["Up to {n1} hours of playback on one charge.", "Each bud weighs {n1} grams.",
                  "Charges fully in {n1} minutes.", "Range of {n1} feet from your device."],
    },
    "toy": {
        "nouns": ["Building Blocks Set", "Wooden Puzzle", "Plush Teddy Bear", "Remote Control Car", "Magnetic Tiles",
                  "Stacking Rings"],
        "who": ["Kids", "Toddlers", "Boys and Girls", "Preschool", "Montessori"],
        "attrs": ["100 Pieces", "Educational", "Ages 3+", "Rainbow Colors", "Large", "Travel Size", "Red"],
        "materials": ["non-toxic BPA-free plastic", "sustainably sourced wood", "ultra-soft plush",
                      "rounded, chunky pieces", "water-based paints", "food-grade silicone", "recycled cardboard",
                      "natural beechwood", "organic cotton", "shatterproof acrylic"],
        "uses": ["creative play", "early learning", "bedtime cuddles", "racing in the yard", "building towers",
                 "family game night", "rainy afternoons", "road trips", "sensory exploration", "classroom centers"],
        "claims": ["Every piece is smooth and safe for small hands.",
                   "Comes in a sturdy storage box.",
                   "Builds fine motor skills while kids have fun.",
                   "Bright colours help little ones learn shapes.",
                   "Meets every safety standard for young children.",
                   "Parents can join in for hours of play.",
                   "Pieces wipe clean with a damp cloth.",
                   "No batteries or tools are needed.",
                   "Makes a great first gift.",
                   "Expand it with pieces from our other sets.",
                   "Teachers use it to introduce counting.",
                   "Encourages sharing and cooperative play.",
                   "Spark imagination with open-ended designs.",
                   "Stitched eyes mean nothing to pull off.",
                   "Turbo mode zips across hardwood floors.",
                   "Magnets are sealed inside every tile.",
                   "Chunky grips suit tiny fingers.",
                   "Rechargeable packs save money on batteries.",
                   "Storybook instructions show dozens of models.",
                   "Grandparents love watching creations grow.",
                   "Tumbles and drops leave it unharmed.",
                   "Quiet play that will not disturb naps.",
                   "Occupational therapists recommend it.",
                   "Washable fabric survives sticky hands.",
                   "Clicks together with satisfying snaps.",
                   "Glow-in-the-dark accents delight at bedtime.",
                   "Sorted trays make tidying fun.",
                   "Inspires early engineers and artists.",
                   "Perfect for sensory bins.",
                   "Heirloom quality built to be handed down."],
        "specs": ["Includes {n1} pieces.", "Recommended for ages {n1} and up.", "Measures {n1} inches across.",
                  "Runs {n1} minutes on a full charge."],
    },
    "kitchen": {
        "nouns": ["Nonstick Frying Pan", "Chef Knife", "Cutting Board", "Cast Iron Skillet", "Mixing Bowl Set",
                  "Dutch Oven"],
        "who": ["Professional", "Stainless Steel", "Heavy Duty", "Premium", "Enameled"],
        "attrs": ["10 Inch", "8 Inch", "Set of 3", "Oven Safe", "Dishwasher Safe", "12 Inch", "Red"],
        "materials": ["high-carbon stainless steel", "tri-ply stainless steel", "pre-seasoned cast iron",
                      "organic bamboo", "forged carbon steel", "hard-anodized aluminum", "acacia wood",
                      "Japanese VG-10 steel", "porcelain enamel", "ceramic nonstick coating"],
        "uses": ["everyday cooking", "precise slicing", "meal prep", "searing steaks", "baking", "weeknight dinners",
                 "holiday feasts", "slow braises", "campfire cooking", "crusty sourdough"],
        "claims": ["Heat spreads evenly with no hot spots.",
                   "Ergonomic handles give a secure grip.",
                   "Built to last through years of daily use.",
                   "Works on gas, electric and induction stoves.",
                   "Food releases easily and cleanup takes seconds.",
                   "Hanging loops save cabinet space.",
                   "Edges stay sharp through months of use.",
                   "Oven safe for roasting and finishing.",
                   "Lifetime warranty covers every piece.",
                   "Rubber feet keep it from sliding.",
                   "Chefs reach for it before anything else.",
                   "Balanced weight reduces wrist fatigue.",
                   "Pour spouts on both sides prevent spills.",
                   "Juice grooves catch drippings.",
                   "Tight lids trap moisture for tender results.",
                   "Seasoning improves with every use.",
                   "Nested bowls store in one cupboard slot.",
                   "Full tang construction adds strength.",
                   "Metal utensils will not scratch the surface.",
                   "Handwash and dry promptly to preserve it.",
                   "Glossy enamel resists chipping and stains.",
                   "Riveted handles never wobble loose.",
                   "Crisp crusts and golden browning every time.",
                   "Measurement markings inside every bowl.",
                   "Knuckle clearance makes chopping comfortable.",
                   "Reversible design doubles the work surface.",
                   "Gift ready in a magnetic box.",
                   "Restaurant kitchens trust this design.",
                   "Lighter than traditional cookware of its type.",
                   "Oil your board monthly to keep it beautiful."],
        "specs": ["It weighs {n2} pounds.", "Heat safe up to {big} degrees.", "Holds {n1} quarts.",
                  "The blade is {n1} inches long."],
    },
    "music": {
        "nouns": ["Greatest Hits", "Live in Concert", "Original Soundtrack", "The Complete Recordings",
                  "Unplugged Sessions"],
        "who": ["Miles Ahead", "The Blue Notes", "Symphony No. 5", "Night Train Trio", "Ella and Friends",
                "Harbor Lights Quartet"],
        "attrs": ["Audio CD", "Vinyl", "Remastered", "Deluxe Edition", "2 Disc Set", "MP3 Download"],
        "materials": ["digitally remastered tracks", "a booklet of rare photographs", "a full orchestra",
                      "bonus live recordings", "liner notes by the producer", "a 180-gram pressing",
                      "alternate takes", "a string section", "studio chatter", "an unreleased encore"],
        "uses": ["fans old and new", "the feel of a live show", "movie lovers", "collectors", "quiet evenings",
                 "road trips", "dinner parties", "late-night listening", "audiophiles", "Sunday mornings"],
        "claims": ["Sound is warm, clear and full of detail.",
                   "Several previously unreleased takes appear.",
                   "A classic recording that belongs in every collection.",
                   "Tracks run in the order of the original release.",
                   "Recorded in a single night.",
                   "Mastering brings out every instrument.",
                   "Some songs appear here for the first time.",
                   "Comes in a gatefold sleeve.",
                   "Topped charts for months.",
                   "Its closing track is a fan favourite.",
                   "Brass swells give way to hushed ballads.",
                   "The rhythm section never loses its groove.",
                   "Crowd noise puts you in the front row.",
                   "Sleeve notes tell how each song was written.",
                   "Improvised solos stretch into glorious detours.",
                   "Critics named it album of the year.",
                   "Vocals shimmer over gentle piano.",
                   "Restored from the original master tapes.",
                   "Timeless melodies for every generation.",
                   "Cinematic themes sweep and soar.",
                   "Recorded live to two-track analog tape.",
                   "Guest appearances surprise longtime listeners.",
                   "Warm analog character without hiss.",
                   "Newly written essays accompany the music.",
                   "Dance floor favourites sit beside quiet gems.",
                   "An essential starting point for newcomers.",
                   "Orchestral arrangements by a celebrated conductor.",
                   "Numbered limited pressing.",
                   "Encores run longer than the studio versions.",
                   "Sing-along choruses made it a radio staple."],
        "specs": ["{n1} tracks, about {n2}0 minutes of music.", "Recorded in {year}.",
                  "Includes {n1} bonus tracks."],
    },
}

# Ten makers, each with a house style (below): ~44 listings each in the cpu profile's 440 training rows, enough for the
# fine-tune to learn whose voice a title asks for
BRANDS = ["Acme", "Northwind", "Lumen", "Bramble &amp; Co", "Kestrel", "Orchard", "Polaris", "Tidewater",
          "Juniper", "Harbor Lane"]

# A brand's house style: its listings open with the same template (OPENERS[the brand's index]) and tagline and sign off
# alike, as real shops' boilerplate does. A model that reads the brand in a title can write these; the nearest
# other product's description (the same kind of product, line and variant from another maker, on 90 % of the novel
# test rows) cannot. Makers beyond BRANDS keep their styles here unused.
BRAND_STYLE = {
    "Acme": ("Acme has made honest everyday goods for families who value craft.", "Acme: built right, priced fairly."),
    "Northwind": ("Northwind designs gear for people who live by the seasons.", "From the Northwind workshop, with care."),
    "Lumen": ("At Lumen we believe good design should feel effortless.", "Lumen. Light in every detail."),
    "Bramble &amp; Co": ("Bramble &amp; Co started as a tiny family shop and still packs every order by hand.",
                         "Thank you for shopping small with Bramble &amp; Co."),
    "Kestrel": ("Kestrel engineers products that keep pace with busy lives.", "Kestrel: performance you can feel."),
    "Orchard": ("Orchard sources thoughtful materials from growers we know by name.", "Grown and gathered by Orchard."),
    "Polaris": ("Polaris tests everything in its own lab before it reaches you.", "Polaris, your true north for quality."),
    "Tidewater": ("Tidewater goods are inspired by slow coastal mornings.", "Tidewater: made for the easy tide of life."),
    "Juniper": ("Juniper pairs modern function with timeless looks.", "Juniper. Fresh ideas, lasting quality."),
    "Harbor Lane": ("Harbor Lane curates pieces that make a house a home.", "Welcome home, from Harbor Lane."),
    "Fernwood": ("Fernwood keeps its workshop powered by the sun.", "Fernwood: kind to your home and the planet."),
    "Silverline": ("Silverline chases precision in every product it releases.", "Silverline. Precision, polished."),
    "Maple &amp; Pine": ("Maple &amp; Pine crafts cozy essentials in small batches.",
                         "Small batch, big heart: Maple &amp; Pine."),
    "Cobalt": ("Cobalt builds bold products for bold people.", "Go bold with Cobalt."),
    "Wren": ("Wren believes little things bring the biggest joys.", "Wren: small wonders, made well."),
    "Alder": ("Alder designs simple tools that quietly outlast trends.", "Alder. Simple, sturdy, yours."),
    "Brightwater": ("Brightwater listens to customers first and designs second.", "Brightwater hears you."),
    "Copperfield": ("Copperfield honours old-world methods with modern standards.", "Copperfield: heritage in hand."),
    "Driftwood": ("Driftwood brings a relaxed spirit to practical things.", "Drift easy with Driftwood."),
    "Evergreen": ("Evergreen donates a share of every sale to replanting forests.", "Evergreen grows with you."),
}
# the promises every listing of a brand makes (no numbers, sizes or colours: the same for all its products)
BRAND_PROMISES = {
    "Acme": ["Every Acme product is inspected twice before it leaves the shop.", "Acme replaces anything that fails."],
    "Northwind": ["Northwind field-tests its designs through long northern winters.",
                  "Our repair service keeps Northwind gear going for seasons."],
    "Lumen": ["Lumen products arrive in plastic-free packaging.", "Clean lines and quiet colours define Lumen."],
    "Bramble &amp; Co": ["A handwritten note comes with every Bramble &amp; Co order.",
                         "Bramble &amp; Co still answers every email personally."],
    "Kestrel": ["Kestrel engineers obsess over weight and balance.", "Kestrel backs its work with a no-questions return."],
    "Orchard": ["Orchard plants a tree for every order.", "Natural finishes are an Orchard signature."],
    "Polaris": ["Polaris publishes its lab results for every product.", "Polaris support is staffed around the clock."],
    "Tidewater": ["Tidewater designs are sketched in a seaside studio.", "Salt air and driftwood inspire every Tidewater piece."],
    "Juniper": ["Juniper refreshes its collections each spring.", "Juniper customers earn rewards with every purchase."],
    "Harbor Lane": ["Harbor Lane chooses each piece to last for years at home.",
                    "Harbor Lane gift wraps for free on request."],
}
BRAND_STYLE_SHARE = 0.95  # listings in their brand's house style: its opening template, tagline and sign-off

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
    "{brand} crafted this {who} {noun} from {material}.",
    "Say hello to the {attr} {noun} by {brand}.",
    "Whether for {use} or everyday moments, the {who} {noun} delivers.",
    "With {material} throughout, our {attr} {noun} stands apart.",
    "{brand}'s {who} {noun} ({attr}) brings {material} home.",
    "Upgrade {use} with the {brand} {noun}.",
    "Inside every {attr} {noun}: {material}.",
    "Treat yourself to the {who} {noun}, {attr} edition.",
]
CLOSERS = [
    "A great gift for anyone who loves {use}.",
    "Order today and enjoy it for {use}.",
    "Satisfaction guaranteed.",
    "Backed by our friendly customer service.",
    "Add it to your cart today.",
    "Ships free with eligible orders.",
    "Questions? Our team answers within a day.",
    "Loved by thousands of {brand} customers.",
    "Try it risk free for thirty days.",
    "Discover the rest of the {who} collection.",
]
SPEC_SHARE = 0.4   # products whose description states a number of its own (a spec the title does not give)
# Rows in product lines of 3-5 variants. Neighbours come from the catalogue (every described row outside the held-out
# splits, ~1,920), where a line of 4 keeps a described sibling with 1 − (1/3)³ ≈ 0.96: 15 % of rows in lines → 20 % of
# the cpu profile's test rows find a near copy first (measured: 32 of 160; the real file: ~15 %), a few of them the
# same maker's same kind of product, whose house style alone overlaps ~0.5. Not every line member is found: another
# brand's product with the same words and variant can stand nearer.
LINE_SHARE = 0.15
LINE_SIZES = (3, 4, 5)
# a product starts a line with p = s / (s + 4 (1 − s)): 4p lines' rows per 4p + (1 − p) rows is s, lines being ~4 long
LINE_START = LINE_SHARE / (LINE_SHARE + 4 * (1 - LINE_SHARE))


# Many real titles carry a model or series name of their maker's ("Chambord", "Aeropress"): one rare word that a
# product line's variants share. Made here from two syllables, for SERIES_SHARE of products.
SYLLABLES = ["al", "bra", "cor", "den", "el", "fa", "gor", "hal", "ino", "ju", "ka", "lor", "mi", "nor", "ova", "pel",
             "qui", "ras", "sol", "tav", "ur", "ven", "wyn", "xan", "yor", "zel"]
SERIES_SHARE = 0.5
# variants of a line whose listing swaps one claim for another: a sibling's description is nearly, not exactly,
# this one's (a right copy scores ~0.9 here; real rows ~0.86)
VARIANT_EDIT_SHARE = 0.5


def _title(who: str, noun: str, attr: str, brand: str | None, series: str | None, comma: bool) -> str:
    title = f"{who} {noun}, {attr}" if comma else f"{who} {noun} {attr}"
    title = f"{series} {title}" if series else title
    return f"{brand} {title}" if brand else title


def _product(rng: random.Random) -> dict:
    """A product (line): its category's words, its text template, and how its title is written."""
    category = CATEGORIES[rng.choice(sorted(CATEGORIES))]
    brand = rng.choice(BRANDS)
    house = rng.random() < BRAND_STYLE_SHARE
    opener = OPENERS[BRANDS.index(brand)] if house else rng.choice(OPENERS)
    sentences = [opener] + rng.sample(category["claims"], k=rng.randint(1, 2))
    if rng.random() < SPEC_SHARE:
        spec = rng.choice(category["specs"]).format(n1=rng.randint(2, 60), n2=rng.randint(3, 9),
                                                    year=rng.randint(1950, 2015), big=rng.randrange(300, 601, 25))
        sentences.insert(rng.randint(1, len(sentences)), spec)
    if house:
        sentences += [rng.choice(BRAND_PROMISES[brand]), BRAND_STYLE[brand][1]]
    elif rng.random() < 0.8:
        sentences.append(rng.choice(CLOSERS))
    return {"category": category, "noun": rng.choice(category["nouns"]), "who": rng.choice(category["who"]),
            "material": rng.choice(category["materials"]), "use": rng.choice(category["uses"]),
            "brand": brand, "branded": rng.random() < 0.8, "comma": rng.random() >= 0.7,
            "series": (rng.choice(SYLLABLES) + rng.choice(SYLLABLES)).capitalize() if rng.random() < SERIES_SHARE else None,
            "sentences": sentences, "entities": rng.random() < 0.25, "markup": rng.random() < 0.15}


def _variant(rng: random.Random, product: dict, attr: str, uid: str) -> dict:
    """One row of a product: its title with `attr`, the product's description naming `attr`, the file's warts."""
    noun, who, brand = product["noun"], product["who"], product["brand"]
    title = _title(who, noun, attr, brand if product["branded"] else None, product["series"], product["comma"])
    named = f"{product['series']} {noun.lower()}" if product["series"] else noun.lower()
    sentences = list(product["sentences"])
    claims = [i for i, text in enumerate(sentences) if text in product["category"]["claims"]]
    if rng.random() < VARIANT_EDIT_SHARE and claims:  # a variant's listing words one claim its own way
        sentences[rng.choice(claims)] = rng.choice(product["category"]["claims"])
    content = " ".join(sentences).format(noun=named, who=who, attr=attr.lower(), brand=brand,
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
