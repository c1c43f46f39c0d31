"""Spot common mis-tags of the small parser on caption fragments.

Captions are mostly noun phrases ("leaves on the pavement", "fire hydrant near the street"),
which a news-trained parser often reads as sentences: a plural noun becomes a verb, a noun
an adverb, "to the post" an infinitive. :func:`find_repairs` lists such tokens so the rules
can treat them as nouns; the parse itself is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from relsafe.oro.fragments import is_verb_candidate
from relsafe.oro.lemmas import WordLemmatizer
from relsafe.oro.lexicon import ING_NOUNS

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

_KEY = "oro_repairs"
_SUBJECT_DEPS = {"nsubj", "nsubjpass", "expl", "csubj", "aux", "auxpass", "dobj"}
_INFINITIVE_OK = {"aux", "det", "amod", "compound", "nummod", "poss", "punct"}


@dataclass(frozen=True)
class Repairs:
    """Token indices to read differently from the parse.

    Attributes:
        nouns: tokens to treat as nouns.
        to_objects: nouns parsed as infinitives whose "to" is really a preposition.
        agents: "by" prepositions that are really passive agents ("being drunk by a girl").
        verbs: participles tagged as nouns in a clause ("a toddler playing/NN with a knife").
    """

    nouns: frozenset[int] = frozenset()
    to_objects: frozenset[int] = frozenset()
    agents: frozenset[int] = frozenset()
    verbs: frozenset[int] = frozenset()


_EMPTY = Repairs()


def repairs_of(doc: Doc) -> Repairs:
    """The repairs recorded on ``doc`` (none if :func:`find_repairs` was not run)."""
    return doc.user_data.get(_KEY, _EMPTY)


def find_repairs(doc: Doc, lemmas: WordLemmatizer | None) -> Repairs:
    """Find mis-tagged nouns in ``doc`` and record them on it."""
    if lemmas is None:
        return _EMPTY
    nouns: set[int] = set()
    to_objects: set[int] = set()
    agents: set[int] = set()
    verbs: set[int] = set()
    for token in doc:
        if token.lower_ == "by" and _is_agent_read_as_prep(token, lemmas):
            agents.add(token.i)
        elif _is_verb_read_as_noun(token, lemmas):
            verbs.add(token.i)
            continue
        if (
            _is_noun_read_as_verb(token, lemmas)
            or _is_noun_read_as_adverb(token, lemmas)
            or _is_noun_read_as_conjunct(token, lemmas)
        ):
            nouns.add(token.i)
        elif _is_noun_read_as_infinitive(token, lemmas):
            nouns.add(token.i)
            to_objects.add(token.i)
    found = (
        Repairs(frozenset(nouns), frozenset(to_objects), frozenset(agents), frozenset(verbs))
        if nouns or agents or verbs
        else _EMPTY
    )
    doc.user_data[_KEY] = found
    return found


def _is_noun_read_as_conjunct(token: Token, lemmas: WordLemmatizer) -> bool:
    """ "food and drink on a table": a bare verb coordinated with a noun is a noun."""
    return (
        token.dep_ == "conj"
        and token.tag_ in {"VB", "VBP", "VBZ"}
        and token.head.pos_ in {"NOUN", "PROPN"}
        and not any(c.dep_ in _SUBJECT_DEPS for c in token.children)
        and lemmas.known(lemmas.noun(token.lower_), "noun")
    )


def _is_noun_read_as_verb(token: Token, lemmas: WordLemmatizer) -> bool:
    """ "leaves on the pavement": a subjectless root verb with a preposition is a noun."""
    if token.dep_ != "ROOT" or token.pos_ != "VERB":
        return False
    if any(c.dep_ in _SUBJECT_DEPS for c in token.children):
        return False
    if not any(c.dep_ == "prep" or (c.dep_ == "xcomp" and c.tag_ == "VBG") for c in token.children):
        return False
    if any(t.pos_ not in {"DET", "ADJ", "NUM", "NOUN", "PROPN"} for t in token.lefts):
        return False
    word = token.lower_
    if token.tag_ == "VBG":
        return word in ING_NOUNS
    if token.tag_ == "VBZ":
        return lemmas.known(lemmas.noun(word), "noun")
    if token.tag_ in {"VB", "VBP"}:
        return lemmas.known(word, "noun")
    return False


def _is_noun_read_as_adverb(token: Token, lemmas: WordLemmatizer) -> bool:
    """ "holding skateboard": a noun tagged as an adverb."""
    word = token.lower_
    return (
        token.tag_ == "RB"
        and token.dep_ in {"advmod", "npadvmod"}
        and not word.endswith("ly")
        and lemmas.known(word, "noun")
        and not lemmas.known(word, "adv")
    )


def _is_noun_read_as_infinitive(token: Token, lemmas: WordLemmatizer) -> bool:
    """ "attached to post": a noun tagged as a verb with an infinitival "to"."""
    if token.tag_ != "VB" or token.dep_ not in {"xcomp", "advcl", "ccomp"}:
        return False
    to = [c for c in token.children if c.dep_ == "aux" and c.lower_ == "to"]
    if not to or any(c.dep_ not in _INFINITIVE_OK for c in token.children):
        return False
    return lemmas.known(token.lower_, "noun")


def _is_agent_read_as_prep(token: Token, lemmas: WordLemmatizer) -> bool:
    """ "wine being drunk by a little girl": a participle tagged as an adjective after "be"
    leaves its "by" as a plain preposition (under it or under "be"); it is the agent."""
    if token.dep_ != "prep":
        return False
    head = token.head
    if head.lemma_ == "be":
        participles = [c for c in head.children if c.dep_ == "acomp" and c.i < token.i]
        if not participles:
            return False
        head = participles[-1]
    elif head.dep_ != "acomp" or head.head.lemma_ not in {"be", "get"}:
        return False
    if head.tag_ not in {"JJ", "VBN"}:
        return False
    lemma = lemmas.verb(head.lower_)
    return lemma != head.lower_ and lemmas.known(lemma, "verb")


def _is_verb_read_as_noun(token: Token, lemmas: WordLemmatizer) -> bool:
    """ "a toddler playing with a knife": the clause is parsed right, the -ing word is NN."""
    return (
        token.tag_ == "NN"
        and token.dep_ in {"acl", "relcl"}
        and token.head.pos_ in {"NOUN", "PROPN"}
        and is_verb_candidate(token, lemmas)
    )
