"""Turn (subject, relation, object) lemmas into caption-like English."""

from __future__ import annotations

from functools import lru_cache

from lemminflect import getInflection

#: Nouns used without an article ("drinking wine", not "drinking a wine").
MASS_NOUNS = frozenset(
    ["wine", "beer", "vodka", "whiskey", "alcohol", "liquor", "champagne", "tequila", "rum", "bourbon", "brandy", "gin", "juice", "milk", "water", "lemonade", "soda", "tea", "cocoa", "weed", "marijuana", "cocaine", "heroin", "meth"]
)


@lru_cache(maxsize=4096)
def inflect(verb: str, tag: str) -> str:
    """Inflect the first word of a (possibly multiword) verb: ('push off', 'VBG') -> 'pushing'."""
    forms = getInflection(verb, tag)
    return forms[0] if forms else verb


def noun_phrase(noun: str) -> str:
    """'child' -> 'a child', 'umbrella' -> 'an umbrella', 'wine' -> 'wine'."""
    if noun in MASS_NOUNS or noun.split()[-1] in MASS_NOUNS:
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def realise(subject: str, relation: str, obj: str, syntax: str = "active") -> str:
    """Realise a tuple in one of the syntaxes: active, passive, relcl, progressive.

    Multiword relations put their particle after the object ("pushing a man off") and
    their preposition before it ("sitting on a bench").
    """
    verb, *rest = relation.split()
    tail = " ".join(rest)
    subj_np, obj_np = noun_phrase(subject), noun_phrase(obj)
    ing, vbn, vbz = inflect(verb, "VBG"), inflect(verb, "VBN"), inflect(verb, "VBZ")
    particle_after = tail in {"off", "up", "down", "away", "out"}

    def vp(form: str) -> str:
        if not tail:
            return f"{form} {obj_np}"
        return f"{form} {obj_np} {tail}" if particle_after else f"{form} {tail} {obj_np}"

    if syntax == "active":
        return f"{subj_np} {vp(ing)}"
    if syntax == "progressive":
        return f"{subj_np} is {vp(ing)}"
    if syntax == "relcl":
        return f"{subj_np} who {vp(vbz)}"
    if syntax == "passive":
        by = f"{vbn} {tail} by {subj_np}" if tail and particle_after else f"{vbn} by {subj_np}"
        return f"{obj_np} being {by}"
    raise ValueError(f"unknown syntax {syntax!r}; expected active, progressive, relcl or passive")
