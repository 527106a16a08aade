"""Write the bundled sample: a small deterministic file in trn.json's exact schema, nothing copied from it.

It stands in for the real file in CI and the cpu profile, so it copies the real file's *statistics* (measured on
350 train / 120 test rows of the real trn.json with SmolLM2, and told in DEVELOPERS.md), not only its schema, and what
copy-or-write meets there: a right copy is this product's text, a wrong one another product's, and ROUGE-L scores the
wrong one about as well as a written text.

- **Families.** ~15 % of real described rows have a nearest neighbour whose description scores >= 0.5 ROUGE-L
  against theirs, mostly one description that a series or a product's editions share word for word (a right copy
  ~0.98). Here 11 % of rows are in families sharing one description verbatim (a book series under its bracketed name,
  "The Glass Orchard (Harbor Saga Book 2)"; a record's formats; a maker's collection), whose text states facts that
  are the family's and no member's title (the series' founding year, a boxed set's page count, "Humble to look at, yet
  generous in what it does"), and 4 % in product lines whose variants' descriptions name each its own size or colour.
  Every family and line has a rare name of its maker's in its titles (a series, a model name). On the cpu profile's
  splits: 18 % of test rows (29 of 160) find a family member first, 0.92 on average, 20 of them word for word.
- **Look-alikes.** Another maker's product of the same kind with the same variant, or the same maker's other product
  of that kind, shares most title words and is no family: its description is another product's. Telling the two
  apart is the copy-or-write gate's job (descgen/gate.py: 0.90 precision at 0.76 recall, cross-validated).
- **Everything else is another product's text.** Outside the families the nearest real title's description overlaps
  the true one ~0.11 ROUGE-L, a little below what the fine-tune writes. Here ten makers each write in a house style
  (an opening template of their own, a sign-off and, half the time, one of two promises: a seller's boilerplate,
  learnable from the brand in the title), and a description names its own title's words and draws per product a
  material, a use, 1-2 claims from a pool of 30 per category and, for 40 %, a spec with numbers of its own: what a
  shop knows and the title does not say. The nearest other product's description overlaps ~0.21 (a generated
  vocabulary shares more function words than real text).
- **Editorial reviews.** Half the book and record products quote 1-2 reviews credited to publications and reviewers
  (made up: "“A triumph of storytelling.” — The Harbor Gazette.", "Praise for …: “…” — Jonah Pell."), as real book
  and record descriptions do: 14 % of described rows carry credited praise, 24 of the cpu profile's 160 test rows.
- **Cut descriptions.** 40 % of descriptions stop mid-sentence, as ~40 % of real ones do (the dataset cut them; a
  family's shared description is cut alike): what prepare trims to the last whole sentence.
- **Other products' facts.** A copied description states sizes, colours, formats, names and specs its title does not
  (83 % of the test rows' nearest descriptions; 44 % state one of the copied product's own, which the copy edits
  change).
- The real file's warts: a third empty `content` (drawn per row: a family may have described and undescribed
  members), HTML entities and tags, content that only repeats the title, stubs, exact duplicates under a new
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
# Two kinds of family, as the real file has. A product line: 3-5 variants whose descriptions name each its own size,
# colour or format (half word one claim their own way). A family that shares one description word for word: a book
# series under one bracketed series name ("The Glass Orchard (Harbor Saga Book 2)"), a record's or another product's
# editions and formats, a maker's collection; its description states facts that are the family's, not any one
# title's (the series' founding year, a boxed set's page count), which a copy must keep. Real right copies are mostly
# the second kind. Neighbours come from the catalogue (every described row outside the held-out splits, ~1,900),
# where a family of 4 keeps a described sibling with 1 − (1/3)³ ≈ 0.96: 18 % of rows in families → ~20 % of the cpu
# profile's test rows find one first (the real file: ~15 %). Not every family member is found: another maker's
# product with the same words and variant (a look-alike) can stand nearer.
LINE_SHARE = 0.04
FAMILY_SHARE = 0.11
LINE_SIZES = (3, 4, 5)
# a product starts a line (a family) with p = s / (s + 4 (1 − s_all)): 4p rows per start, the rest one row each
LINE_START = LINE_SHARE / (LINE_SHARE + FAMILY_SHARE + 4 * (1 - LINE_SHARE - FAMILY_SHARE))
FAMILY_START = FAMILY_SHARE / (LINE_SHARE + FAMILY_SHARE + 4 * (1 - LINE_SHARE - FAMILY_SHARE))


# Many real titles carry a model or series name of their maker's ("Chambord", "Aeropress"): one rare word that a
# family's members share. Made here from three syllables; every line and family has one (or a book series' name),
# SERIES_SHARE of the products on their own.
SYLLABLES = ["al", "bra", "cor", "den", "el", "fa", "gor", "hal", "ino", "ju", "ka", "lor", "mi", "nor", "ova", "pel",
             "qui", "ras", "sol", "tav", "ur", "ven", "wyn", "xan", "yor", "zel"]
SERIES_SHARE = 0.5
# variants of a line whose listing swaps one claim for another: a sibling's description is nearly, not exactly,
# this one's (a right copy scores ~0.9 here; real rows ~0.86)
VARIANT_EDIT_SHARE = 0.5

# A book series' members: their own titles under the series' bracketed name, one blurb for all
BOOK_NAMES = ["The Glass Orchard", "A Winter Garden", "The Silent Harbor", "The Last Lighthouse", "Salt and Stone",
              "The Copper Kettle", "Letters from the Valley", "The Night Ferry", "A House of Tides", "The Lantern Room",
              "Under the Pier", "The Far Meadow", "Stormwatch", "The Quiet Mill", "Wren Hill", "The Tallow Road"]
SAGAS = ["Harbor Saga", "Lighthouse Keepers", "Orchard Chronicles", "Cormorant Mysteries", "Valley Quartet",
         "Northern Lights Trilogy", "Salt Marsh Novels", "Kettle Cove Cozies"]
# what a family's one description states of the family alone (never one title's): the copy must keep it
FAMILY_FACTS = {
    "book": ["First published in {year}, the {saga} now runs to {n} books.",
             "The boxed set of the {saga} runs to {big}0 pages.",
             "Readers have followed the {saga} since {year}."],
    "music": ["Recorded in {year} and never out of print since.", "These sessions were first released in {year}."],
    # no size, colour or format word: a family's text that used one of its members' variant words ("Small in size,
    # yet large in what it does" in a line with a Large) would be that member's fact to the copy edits
    "other": ["The {series} collection launched in {year}.", "Every piece of the {series} collection is made in "
              "batches of {n}.", "Humble to look at, yet generous in what it does: the {series} collection."],
}
# Book and record listings are often editorial reviews: praise credited to publications and reviewers (made up here)
PUBLICATIONS = ["The Meridian Review", "Daily Planet", "The Harbor Gazette", "Northern Books Quarterly",
                "The Evening Lantern", "Coastline Weekly", "The Listening Post", "Riverbend Times"]
REVIEWERS = ["Clara Whitfield", "Jonah Pell", "Marisol Vane", "Theo Ashgrove", "Ingrid Holloway", "Felix Dunmore"]
PRAISE = {"book": ["A luminous, unforgettable novel.", "Gripping from the first page to the last.",
                   "Quietly devastating and beautifully made.", "A triumph of storytelling.",
                   "Warm, wise and wonderfully told.", "The best book of its kind in years."],
          "music": ["A record that rewards every listen.", "Pure joy from the first note.",
                    "An essential album, gorgeously restored.", "Timeless, tender and alive.",
                    "The sound of a band at its peak."]}
REVIEW_SHARE = 0.5  # book and record products whose description quotes 1-2 credited reviews
# ~40 % of real descriptions stop mid-sentence (the dataset cut them); prepare trims them to their last whole sentence
CUT_SHARE = 0.4


def _title(who: str, noun: str, attr: str, brand: str | None, series: str | None, comma: bool) -> str:
    title = f"{who} {noun}, {attr}" if comma else f"{who} {noun} {attr}"
    title = f"{series} {title}" if series else title
    return f"{brand} {title}" if brand else title


def _category_name(category: dict) -> str:
    return next(name for name, c in CATEGORIES.items() if c is category)


def _reviews(rng: random.Random, kind: str, who: str) -> list[str]:
    """1-2 credited reviews, in the forms real editorial reviews take."""
    out = []
    for _ in range(rng.randint(1, 2)):
        praise, publication, reviewer = rng.choice(PRAISE[kind]), rng.choice(PUBLICATIONS), rng.choice(REVIEWERS)
        out.append(rng.choice([f"“{praise}” — {publication}.", f"“{praise}” —{reviewer}, {publication}.",
                               f"{praise} - {publication}.", f"Praise for {who}: “{praise}” — {reviewer}."]))
    return out


def _product(rng: random.Random, family: str | None = None) -> dict:
    """A product (line or family): its category's words, its text template, and how its title is written. `family`:
    "line" (variants name their own attribute) or "verbatim" (one description shared word for word, stating the
    family's own facts)."""
    category = CATEGORIES[rng.choice(sorted(CATEGORIES))]
    kind = _category_name(category)
    brand = rng.choice(BRANDS)
    house = rng.random() < BRAND_STYLE_SHARE
    opener = OPENERS[BRANDS.index(brand)] if house else rng.choice(OPENERS)
    sentences = [opener] + rng.sample(category["claims"], k=rng.randint(1, 2))
    numbers = dict(n1=rng.randint(2, 60), n2=rng.randint(3, 9), year=rng.randint(1950, 2015),
                   big=rng.randrange(300, 601, 25), n=rng.randint(3, 12))
    if rng.random() < SPEC_SHARE:
        sentences.insert(rng.randint(1, len(sentences)), rng.choice(category["specs"]).format(**numbers))
    who = rng.choice(category["who"])
    saga = rng.choice(SAGAS) if family == "verbatim" and kind == "book" else None
    series = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize() \
        if not saga and (family or rng.random() < SERIES_SHARE) else None
    if family == "verbatim":
        fact = rng.choice(FAMILY_FACTS.get(kind, FAMILY_FACTS["other"]))
        sentences.insert(1, fact.format(saga=f"{saga} series" if saga else "", series=series, **numbers))
    if kind in PRAISE and rng.random() < REVIEW_SHARE:
        sentences[2:2] = _reviews(rng, kind, saga or who)
    if house:  # its sign-off, and half the time one of its promises
        sentences += [rng.choice(BRAND_PROMISES[brand])] * (rng.random() < 0.5) + [BRAND_STYLE[brand][1]]
    elif rng.random() < 0.8:
        sentences.append(rng.choice(CLOSERS))
    return {"category": category, "kind": kind, "noun": rng.choice(category["nouns"]), "who": who,
            "material": rng.choice(category["materials"]), "use": rng.choice(category["uses"]),
            "brand": brand, "branded": rng.random() < 0.8, "comma": rng.random() >= 0.7, "series": series,
            "saga": saga, "family": family, "sentences": sentences, "cut": rng.random() < CUT_SHARE,
            "entities": rng.random() < 0.25, "markup": rng.random() < 0.15}


def _cut(content: str) -> str:
    """The last sentence stopped after half its words, with no full stop: where the dataset cut a description."""
    head, _, last = content.rstrip().rpartition(". ")
    words = last.rstrip(".").split()
    return f"{head}. {' '.join(words[:max(1, len(words) // 2)])}" if head and len(words) > 1 else content


def _variant(rng: random.Random, product: dict, attr: str, uid: str, who: str | None = None,
             volume: int | None = None) -> dict:
    """One row of a product: its title with `attr` (a series member: its own `who` and `volume`), the product's
    description (naming `attr`, except in a family sharing one description), the file's warts."""
    noun, brand = product["noun"], product["brand"]
    who = who or product["who"]
    series = product["series"]
    if product["saga"]:  # "The Glass Orchard (Harbor Saga Book 2)"
        title = _title(who, f"({product['saga']} Book {volume})", attr, brand if product["branded"] else None, None,
                       product["comma"])
    else:
        title = _title(who, noun, attr, brand if product["branded"] else None, series, product["comma"])
    named = f"{series} {noun.lower()}" if series else noun.lower()
    sentences = list(product["sentences"])
    claims = [i for i, text in enumerate(sentences) if text in product["category"]["claims"]]
    verbatim = product["family"] == "verbatim"
    if not verbatim and rng.random() < VARIANT_EDIT_SHARE and claims:  # a variant's listing words one claim its own way
        sentences[rng.choice(claims)] = rng.choice(product["category"]["claims"])
    # a family sharing one description names none of its members' own words: its line, its maker, its series
    shown_attr = (product["saga"] or series or noun).lower() if verbatim else attr.lower()
    shown_who = product["saga"] if product["saga"] else (product["who"] if verbatim else who)
    content = " ".join(sentences).format(noun=named, who=shown_who, attr=shown_attr, brand=brand,
                                         material=product["material"], use=product["use"])
    if product["cut"]:
        content = _cut(content)
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
    """`n_rows` rows: stand-alone products, product lines and families whose members follow one another (as the real
    file lists them), each member under its own uid."""
    rows: list[dict] = []
    while len(rows) < n_rows:
        roll = rng.random()
        family = "line" if roll < LINE_START else "verbatim" if roll < LINE_START + FAMILY_START else None
        product = _product(rng, family)
        attrs = product["category"]["attrs"]
        if family is None:
            rows.append(_variant(rng, product, rng.choice(attrs), f"B{len(rows):09d}"))
            continue
        size = min(rng.choice(LINE_SIZES), len(attrs), n_rows - len(rows))
        if product["saga"]:  # a series: its books, one format
            attr = rng.choice(attrs)
            for volume, who in enumerate(rng.sample(BOOK_NAMES, k=size), 1):
                rows.append(_variant(rng, product, attr, f"S{len(rows):09d}", who, volume))
        else:
            for attr in rng.sample(attrs, k=size):
                rows.append(_variant(rng, product, attr, f"S{len(rows):09d}"))
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
