"""Word lists the extraction rules use (scene-graph conventions of FACTUAL/Visual Genome)."""

from __future__ import annotations

#: "a group of people" -> the people: the head noun is transparent.
QUANTIFIERS: frozenset[str] = frozenset(
    ["group", "lot", "lots", "bunch", "pair", "couple", "row", "herd", "flock", "crowd", "piece", "pieces", "slice", "bit", "bits", "patch", "pile", "stack", "set", "number", "variety", "cluster", "portion", "bouquet", "collection", "handful", "bundle", "chunk", "series", "assortment", "array", "team", "plenty", "kind", "type", "sort", "sheet", "strand", "stream", "swarm", "school", "pack", "litter", "fleet", "army", "mass", "layer", "heap", "mound", "clump", "tuft", "sprig", "wedge", "scoop", "spoonful", "bowlful", "cupful", "dozen", "amount", "mix", "mixture", "selection", "range", "string"]
)

#: "on top of X" style location nouns and the relation FACTUAL writes for them.
LOCATION_RELATIONS: dict[str, str] = {
    "top": "on top of",
    "side": "on side of",
    "front": "in front of",
    "back": "on back of",
    "middle": "on middle of",
    "bottom": "on bottom of",
    "edge": "on edge of",
    "end": "in end of",
    "corner": "in corner of",
    "center": "in center of",
    "centre": "in center of",
    "rear": "at rear of",
    "base": "at base of",
    "left": "at the left of",
    "right": "on the right side of",
    "inside": "inside",
    "outside": "outside",
}

#: Modifiers of "side" that change the relation ("the right side of").
SIDE_MODIFIERS: dict[str, str] = {
    "right": "on the right side of",
    "left": "at the left of",
    "both": "on both sides of",
    "either": "on either side of",
    "far": "on far side of",
    "opposite": "opposite of",
}

#: "a plate of food" -> (food, on, plate).
CONTAINERS: dict[str, str] = {
    **dict.fromkeys(
        ["glass", "cup", "bottle", "box", "jar", "mug", "bucket", "pot", "can", "carton", "basket", "vase", "bag", "bin", "container", "pitcher", "jug", "cone", "carafe", "kettle", "pan", "crate", "barrel", "tank", "tub", "line"],
        "in",
    ),
    **dict.fromkeys(["plate", "tray", "platter", "dish", "board"], "on"),
    "bowl": "in",
}

#: "a picture of a dog": depiction, not a relation between two objects.
DEPICTIONS: frozenset[str] = frozenset(
    ["picture", "photo", "photograph", "image", "reflection", "view", "drawing", "painting", "shadow", "silhouette"]
    + ["outline", "shape", "sound", "smell", "color", "colour"]
)

#: Nouns that are never arguments (time, vague places, pronoun-like words).
NON_ENTITIES: frozenset[str] = frozenset(
    ["night", "day", "daytime", "nighttime", "time", "morning", "evening", "afternoon", "distance", "middle", "way", "direction", "moment", "year", "today", "tonight", "one", "other", "another", "something", "anything", "everything", "nothing", "thing"]
)

#: Prepositions written differently in FACTUAL, or not spatial at all (mapped to "").
PREPOSITION_MAP: dict[str, str] = {
    "beneath": "under",
    "underneath": "under",
    "below": "under",
    "onto": "on",
    "upon": "on",
    "atop": "on top of",
    "toward": "towards",
    "amongst": "among",
    "amid": "among",
    "amidst": "among",
    "inside of": "inside",
    "outside of": "outside",
    "adjacent to": "next to",
    "as": "",
    "like": "",
    "during": "",
    "while": "",
    "before": "",
    "after": "",
    "about": "",
    "than": "",
    "because": "",
    "despite": "",
    "except": "",
    "if": "",
    "since": "",
    "until": "",
    "per": "",
}

#: Adverbs/adjectives that form a preposition with the next one ("next to", "out of").
PREPOSITION_HEADS: frozenset[str] = frozenset(
    ["next", "close", "near", "adjacent", "across", "out", "away", "up", "down", "ahead", "apart", "far", "off", "inside", "outside"]
)

#: Verb lemmas FACTUAL writes differently.
VERB_MAP: dict[str, str] = {"lie": "lay"}

#: Particles dropped before a preposition ("sitting down in a chair" -> "sit in").
DROPPED_PARTICLES: frozenset[str] = frozenset({"down"})

#: Determiners and adverbs that negate the phrase they attach to.
NEGATORS: frozenset[str] = frozenset({"no", "not", "n't", "never", "none", "neither", "nor"})

#: Pronouns that stand for the noun a relative clause modifies.
RELATIVE_PRONOUNS: frozenset[str] = frozenset({"who", "that", "which", "whom", "whose"})

#: Nouns ending in -ing that really are nouns (not misparsed participles).
ING_NOUNS: frozenset[str] = frozenset(
    ["building", "clothing", "ceiling", "painting", "railing", "awning", "frosting", "icing", "topping", "lettering", "wedding", "sibling", "evening", "morning", "king", "ring", "string", "wing", "thing", "swing", "stuffing", "pudding", "lighting", "opening", "landing", "parking", "siding", "writing", "drawing", "carving", "fencing", "flooring", "paneling", "panelling", "tiling", "trimming", "wiring", "plumbing", "housing", "ding", "bedding", "dressing", "seasoning", "filling", "serving", "crossing", "crossings", "sling", "spring", "sting", "offspring", "ping", "shingle", "sapling", "duckling", "dumpling", "earring", "wingding", "feeling", "ending", "beginning", "handling", "netting", "piping", "molding", "moulding", "coating", "covering", "marking", "markings", "packaging"]
)

#: Parts that FACTUAL links to the whole of a noun compound: "tree branch" -> (tree, have, branch).
PART_NOUNS: frozenset[str] = frozenset(
    """branch branches head heads foot feet wing wings face tail nose leg legs ear ears eye eyes
    mouth neck paw paws hoof hooves horn horns mane beak fur""".split()
)

#: Prepositions that can be left stranded at the end of a clause ("the bench he sits on").
STRANDED_PREPOSITIONS: frozenset[str] = frozenset(
    "on in at under behind beside near inside over above against by with next".split()
)

#: Inflected forms the small model lemmatises to the wrong verb ("riding" -> "rid").
VERB_FORMS: dict[str, str] = {
    "riding": "ride",
    "rides": "ride",
    "shining": "shine",
    "shines": "shine",
    "striped": "stripe",
    "staring": "stare",
    "stares": "stare",
    "taped": "tape",
    "wading": "wade",
    "sloped": "slope",
    "coded": "code",
    "hoping": "hope",
    "sliding": "slide",
}
