"""Turn (subject, relation, object) lemmas into caption-like English, and swap words in captions."""

from __future__ import annotations

import re
from functools import lru_cache

from lemminflect import getInflection

Triple = tuple[str, str, str]

#: Nouns used without an article ("drinking wine", not "drinking a wine").
MASS_NOUNS = frozenset(
    [
        "wine",
        "beer",
        "vodka",
        "whiskey",
        "alcohol",
        "liquor",
        "champagne",
        "tequila",
        "rum",
        "bourbon",
        "brandy",
        "gin",
        "booze",
        "sake",
        "lager",
        "ale",
        "juice",
        "milk",
        "water",
        "lemonade",
        "soda",
        "tea",
        "cocoa",
        "smoothie",
        "milkshake",
        "weed",
        "marijuana",
        "cocaine",
        "heroin",
        "meth",
        "tobacco",
        "ecstasy",
        "crack",
        "ketamine",
        "opium",
        "lsd",
        "fentanyl",
        "methamphetamine",
        "amphetamine",
        "mdma",
        "salmon",
        "meat",
        "fish",
        "brisket",
        "ham",
        "batter",
        "dough",
        "air",
        "lavender",
        "candy",
        "ice cream",
        "binoculars",
        "film",
    ]
)
#: Count nouns that read better in the plural ("blowing bubbles", "taking drugs", "beating eggs").
PLURAL_NOUNS = frozenset(["bubble", "drug", "egg", "block"])
#: Words after the object ("pushing a man off"); other tails are prepositions before it.
PARTICLES = frozenset(["off", "up", "down", "away", "out", "over", "back", "around"])

#: Syntaxes used for training realisations.
TRAIN_SYNTAXES = ("active", "progressive", "relcl", "passive")
#: Syntaxes only ever used by the syntactic attack (never in training).
EVAL_SYNTAXES = ("passive_is", "relcl_that", "passive_relcl", "passive_past", "plural_subject")


@lru_cache(maxsize=8192)
def inflect(verb: str, tag: str) -> str:
    """Inflect a single verb word: ('drink', 'VBN') -> 'drunk'."""
    forms = getInflection(verb, tag)
    return forms[0] if forms else verb


@lru_cache(maxsize=8192)
def plural(noun: str) -> str:
    """'teddy bear' -> 'teddy bears', 'child' -> 'children'."""
    *mods, head = noun.split()
    forms = getInflection(head, "NNS")
    return " ".join([*mods, forms[0] if forms else head + "s"])


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" and not word.startswith(("uni", "use", "eu", "one")) else "a"


def is_mass(noun: str) -> bool:
    return noun in MASS_NOUNS or noun.split()[-1] in MASS_NOUNS


def noun_phrase(noun: str) -> str:
    """'child' -> 'a child', 'umbrella' -> 'an umbrella', 'wine' -> 'wine', 'bubble' -> 'bubbles'."""
    if is_mass(noun):
        return noun
    if noun.split()[-1] in PLURAL_NOUNS:
        return plural(noun)
    return f"{_article(noun)} {noun}"


def realise(subject: str, relation: str, obj: str, syntax: str = "active") -> str:
    """Realise a tuple in one syntax (see ``TRAIN_SYNTAXES`` and ``EVAL_SYNTAXES``).

    Multiword relations put a particle after the object ("pushing a man off") and a
    preposition before it ("playing with a ball"). When subject and object are the same
    lemma the object becomes "another ..." ("a man stabbing another man").
    """
    verb, *rest = relation.split()
    tail = " ".join(rest)
    subj_np = noun_phrase(subject)
    obj_np = f"another {obj}" if obj == subject and not is_mass(obj) else noun_phrase(obj)
    ing, vbn, vbz = inflect(verb, "VBG"), inflect(verb, "VBN"), inflect(verb, "VBZ")
    particle_after = bool(tail) and tail.split()[0] in PARTICLES

    def vp(form: str) -> str:
        if not tail:
            return f"{form} {obj_np}"
        return f"{form} {obj_np} {tail}" if particle_after else f"{form} {tail} {obj_np}"

    by = f"{vbn} {tail} by {subj_np}" if tail else f"{vbn} by {subj_np}"
    forms = {
        "active": lambda: f"{subj_np} {vp(ing)}",
        "progressive": lambda: f"{subj_np} is {vp(ing)}",
        "relcl": lambda: f"{subj_np} who {vp(vbz)}",
        "passive": lambda: f"{obj_np} being {by}",
        "passive_is": lambda: f"{obj_np} is being {by}",
        "relcl_that": lambda: f"{subj_np} that is {vp(ing)}",
        "passive_relcl": lambda: f"{obj_np} that is being {by}",
        "passive_past": lambda: f"{obj_np} {by}",
        "plural_subject": lambda: f"two {plural(subject)} {vp(ing)}",
    }
    if syntax not in forms:
        raise ValueError(f"unknown syntax {syntax!r}; expected one of {sorted(forms)}")
    return forms[syntax]()


_AUX = frozenset(["being", "been", "be", "is", "are", "was", "were", "get", "gets", "got"])
_DETS = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "his",
        "her",
        "their",
        "its",
        "my",
        "your",
        "our",
        "some",
        "one",
        "two",
        "three",
    ]
)


def _verb_tag(word: str, verb: str, prev: str) -> str | None:
    tags = [t for t in ("VBG", "VBZ", "VBN", "VBD", "VB", "VBP") if word in getInflection(verb, t)]
    if not tags:
        return None
    if "VBN" in tags and "VBD" in tags:
        return "VBN" if prev in _AUX else "VBD"
    return tags[0]


def _noun_forms(noun: str) -> list[str]:
    return [plural(noun), noun] if not is_mass(noun) else [noun]


def substitute(text: str, old: Triple, new: Triple) -> str | None:
    """Swap the relation and/or object of ``old`` for ``new`` inside a caption, keeping its context.

    "a kid smoking a cigarette behind the school" with (kid, smoke, cigarette) ->
    (kid, blow, bubble) gives "a kid blowing bubbles behind the school". Returns None when the
    words cannot be found unambiguously (callers fall back to ``realise``).
    """
    words = text.split()
    low = [re.sub(r"[^\w-]", "", w.lower()) for w in words]
    if old[1] != new[1]:
        if len(old[1].split()) > 1 or (len(new[1].split()) > 1 and new[1].split()[1] in PARTICLES):
            return None
        verb = old[1]
        hits = [
            (i, t) for i, w in enumerate(low) if (t := _verb_tag(w, verb, low[i - 1] if i else ""))
        ]
        if len(hits) != 1:
            return None
        i, tag = hits[0]
        nverb, *ntail = new[1].split()
        words[i : i + 1] = [inflect(nverb, tag) if tag != "VB" else nverb, *ntail]
        low[i : i + 1] = [""] * (1 + len(ntail))
    if old[2] != new[2]:
        olds = [f for f in _noun_forms(old[2])] + ([old[2].split()[-1]] if " " in old[2] else [])
        span = None
        for form in olds:
            n = len(form.split())
            for i in range(len(low) - n + 1):
                if " ".join(low[i : i + n]) == form:
                    span = (i, i + n, form != old[2] and form == plural(old[2]))
                    break
            if span:
                break
        if span is None:
            return None
        i, j, was_plural = span
        noun = new[2]
        if was_plural and not is_mass(noun):
            repl, article_ok = plural(noun), False
        elif is_mass(noun) or noun.split()[-1] in PLURAL_NOUNS:
            repl, article_ok = noun_phrase(noun), False
        else:
            repl, article_ok = noun, True
        prev = low[i - 1] if i else ""
        if prev in ("a", "an"):
            if article_ok:
                words[i - 1] = _article(noun)
                words[i:j] = [repl]
            else:
                words[i - 1 : j] = [repl]
        elif article_ok and prev not in _DETS and prev != "of" and not was_plural:
            words[i:j] = [f"{_article(noun)} {repl}"]
        else:
            words[i:j] = [repl]
    return " ".join(words)
