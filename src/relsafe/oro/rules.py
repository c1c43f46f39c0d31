"""Dependency-parse rules: one parsed caption -> O-R-O tuples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from relsafe.oro.fragments import restructure
from relsafe.oro.lemmas import WordLemmatizer
from relsafe.oro.lexicon import (
    CLOTHING,
    CONTAINERS,
    DEPICTIONS,
    DROPPED_PARTICLES,
    HAVING_ADJECTIVES,
    ING_NOUNS,
    LOCATION_RELATIONS,
    MOVED_OBJECTS,
    NEGATORS,
    NON_ENTITIES,
    PART_NOUNS,
    PREPOSITION_HEADS,
    PREPOSITION_MAP,
    QUANTIFIERS,
    RELATIVE_PRONOUNS,
    SIDE_MODIFIERS,
    STRANDED_PREPOSITIONS,
    VERB_FORMS,
    VERB_MAP,
    WEAR_RELATIONS,
)
from relsafe.oro.repair import find_repairs, repairs_of
from relsafe.oro.types import ORO

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

_NOUNISH = {"NOUN", "PROPN", "PRON", "NUM"}
_ENTITY_POS = {"NOUN", "PROPN", "NUM", "X", "ADJ", "VERB"}
_SUBJ = {"nsubj", "csubj"}
_PASS_SUBJ = {"nsubjpass", "csubjpass"}
_OBJ = {"dobj", "obj"}
_CLAUSE_LINKS = {"conj", "xcomp", "advcl"}
#: Parts of speech that head neither a predicate nor an argument (skipped early).
_NEVER_ARGUMENTS = {"DET", "ADP", "PUNCT", "CCONJ", "SCONJ", "PART", "SPACE"}


@dataclass(frozen=True)
class _Arc:
    """A candidate tuple before lemmas are written out."""

    subject: Token
    relation: str
    object: Token
    negated: bool
    object_text: str = ""


def extract_from_doc(doc: Doc, lemmas: WordLemmatizer | None = None) -> list[ORO]:
    """All tuples of one parsed text, de-duplicated, in text order.

    Args:
        doc: a parsed (tagged, lemmatised, dependency-parsed) spaCy ``Doc``.
        lemmas: out-of-context lemmatizer for mis-tagged words; optional.
    """
    doc = restructure(doc, lemmas)
    find_repairs(doc, lemmas)
    arcs: list[_Arc] = []
    for token in doc:
        if token.pos_ in _NEVER_ARGUMENTS:
            continue
        if _is_predicate(token):
            arcs.extend(_predicate_arcs(token, lemmas))
        elif _is_nounlike(token):
            arcs.extend(_noun_arcs(token))
    seen: set[tuple] = set()
    out: list[ORO] = []
    for arc in arcs:
        if arc.subject.i == arc.object.i or not arc.relation:
            continue
        oro = _make(_wear(arc), lemmas)
        key = (oro.subject, oro.relation, oro.object)
        if key not in seen and oro.subject and oro.object:
            seen.add(key)
            out.append(oro)
    return out


def _wear(arc: _Arc) -> _Arc:
    """'a man in a red shirt' -> (man, wear, shirt)."""
    if arc.relation in WEAR_RELATIONS and arc.object.lemma_.lower() in CLOTHING:
        return _Arc(arc.subject, "wear", arc.object, arc.negated)
    return arc


# ---------------------------------------------------------------- arguments


def _of_object(token: Token) -> Token | None:
    """The object of an "of" phrase attached to ``token``, if any."""
    for child in token.children:
        if child.dep_ == "prep" and child.lower_ == "of":
            for grandchild in child.children:
                if grandchild.dep_ == "pobj":
                    return grandchild
    return None


def _ground(token: Token) -> Token:
    """See through quantifiers: "a group of people" -> people."""
    for _ in range(3):
        if token.lemma_.lower() not in QUANTIFIERS:
            break
        inner = _of_object(token)
        if inner is None:
            break
        token = inner
    return token


def _resolve(token: Token) -> Token:
    """Relative pronouns stand for the noun their clause modifies."""
    if token.lower_ in RELATIVE_PRONOUNS:
        clause = token.head
        while clause.dep_ not in {"relcl", "acl"} and clause.head is not clause:
            if clause.dep_ not in _CLAUSE_LINKS and clause.dep_ != "ccomp":
                break
            clause = clause.head
        if clause.dep_ in {"relcl", "acl"}:
            return clause.head
    return token


def _is_nounlike(token: Token) -> bool:
    repairs = repairs_of(token.doc)
    if token.i in repairs.verbs:
        return False
    return token.pos_ in _NOUNISH or token.i in repairs.nouns


def _is_entity(token: Token) -> bool:
    if token.lower_ in RELATIVE_PRONOUNS or token.pos_ == "PRON":
        return False
    if token.lemma_.lower() in NON_ENTITIES or token.lower_ in NON_ENTITIES:
        return False
    if not any(ch.isalnum() for ch in token.text):
        return False
    repairs = repairs_of(token.doc)
    if token.i in repairs.nouns:
        return True
    if token.i in repairs.verbs:
        return False
    if token.tag_ == "VBG" and token.lower_ not in ING_NOUNS:
        return False
    return token.pos_ in _ENTITY_POS


def _args(token: Token) -> list[Token]:
    """The token and its conjuncts, each seen through quantifiers, entities only."""
    out = []
    for tok in (token, *token.conjuncts):
        tok = _ground(_resolve(tok))
        if _is_entity(tok) and tok not in out:
            out.append(tok)
    return out


def _negates(token: Token) -> bool:
    return any(
        c.dep_ == "neg" or (c.dep_ == "det" and c.lower_ in NEGATORS) for c in token.children
    )


# ---------------------------------------------------------------- prepositions


def _location_relation(prep_word: str, loc: Token) -> str:
    lemma = loc.lemma_.lower()
    if lemma in {"side", "sides"}:
        for child in loc.children:
            rel = SIDE_MODIFIERS.get(child.lower_)
            if rel:
                return rel
    if lemma == "back" and prep_word == "in":
        return "in back of"
    return LOCATION_RELATIONS.get(lemma, LOCATION_RELATIONS.get(loc.lower_, ""))


def _prep_targets(prep: Token, prefix: str = "") -> list[tuple[str, Token]]:
    """(relation, object) pairs a preposition contributes, multiword ones resolved."""
    raw = f"{prefix} {prep.lower_}".strip()
    word = PREPOSITION_MAP.get(raw, raw)
    if not word:
        return []
    pobjs = [c for c in prep.children if c.dep_ == "pobj"]
    if not pobjs:  # "out of the box": the preposition chains on
        out: list[tuple[str, Token]] = []
        for inner in (c for c in prep.children if c.dep_ == "prep"):
            out.extend(_prep_targets(inner, word))
        return out
    targets: list[tuple[str, Token]] = []
    for pobj in pobjs:
        for target in (pobj, *pobj.conjuncts):
            lemma = target.lemma_.lower()
            if lemma in LOCATION_RELATIONS or lemma == "sides":
                inner = _of_object(target)
                if inner is not None:
                    rel = _location_relation(word, target)
                    targets.extend((rel, a) for a in _args(inner))
                continue
            targets.extend((word, a) for a in _args(target))
    return targets


def _to_object(child: Token) -> list[tuple[str, Token, Token]]:
    """ "next to bus" misparsed as an infinitive: ("next to", bus)."""
    marker = next(c for c in child.children if c.dep_ == "aux" and c.lower_ == "to")
    before = child.doc[marker.i - 1] if marker.i > 0 else marker
    prefix = before.lower_ if before.lower_ in PREPOSITION_HEADS else ""
    rel = PREPOSITION_MAP.get(f"{prefix} to".strip(), f"{prefix} to".strip())
    return [(rel, obj, marker) for obj in _args(child)]


def _is_preposition_of(child: Token, head: Token) -> bool:
    """A preposition with an object under ``head`` (noun "of" phrases are handled apart)."""
    if child.i in repairs_of(head.doc).agents:
        return False
    if child.dep_ == "prep":
        return not (child.lower_ == "of" and _is_nounlike(head))
    if child.dep_ == "agent":  # "standing by the cabinets" is no passive
        return head.tag_ != "VBN"
    return child.dep_ == "prt" and any(c.dep_ == "pobj" for c in child.children)


def _attachments(head: Token) -> list[tuple[str, Token, Token]]:
    """(relation, object, marker) for the prepositional phrases under ``head``."""
    out: list[tuple[str, Token, Token]] = []
    to_objects = repairs_of(head.doc).to_objects
    for child in head.children:
        if child.i in to_objects:
            out.extend(_to_object(child))
        elif _is_preposition_of(child, head):
            out.extend((rel, obj, child) for rel, obj in _prep_targets(child))
        elif child.dep_ in {"advmod", "prt", "acomp", "amod", "npadvmod", "prep"} and (
            child.lower_ in PREPOSITION_HEADS
        ):
            for inner in (c for c in child.children if c.dep_ == "prep"):
                out.extend((rel, obj, child) for rel, obj in _prep_targets(inner, child.lower_))
    return out


# ---------------------------------------------------------------- predicates


def _is_misparsed_participle(token: Token) -> bool:
    """ "a zebra walking in water" parsed as the noun "walking" with compound "zebra"."""
    return (
        token.tag_ == "NN"
        and token.lower_.endswith("ing")
        and len(token.lower_) > 5
        and token.lower_ not in ING_NOUNS
        and any(c.dep_ == "compound" and c.pos_ in {"NOUN", "PROPN"} for c in token.lefts)
    )


def _is_predicate(token: Token) -> bool:
    repairs = repairs_of(token.doc)
    if token.i in repairs.nouns:
        return False
    if token.i in repairs.verbs:
        return True
    if token.pos_ in {"VERB", "AUX"}:
        return True
    if _agent_preps(token):
        return True
    return _is_misparsed_participle(token)


def _agent_preps(verb: Token) -> list[Token]:
    """The "by" phrases naming the agent of ``verb``, repaired ones included."""
    agents = repairs_of(verb.doc).agents
    out = [c for c in verb.rights if c.dep_ == "agent" or c.i in agents]
    if agents and verb.dep_ == "acomp":  # "being drunk by a girl" with "by" under "being"
        out += [c for c in verb.head.rights if c.i in agents]
    return out


def _clause_anchor(verb: Token) -> Token:
    """For "wine being drunk by a girl" the predicate "drunk" hangs off "being"."""
    head = verb.head
    if (
        verb.dep_ in {"acomp", "xcomp", "ccomp"}
        and head.lemma_ in {"be", "get"}
        and head.dep_ in {"acl", "relcl"}
    ):
        return head
    return verb


def _verb_args(
    verb: Token, depth: int = 0
) -> tuple[list[Token], list[Token], list[tuple[Token, Token]]]:
    """Logical subjects and objects of ``verb`` (passives with an agent turned active).

    The third item lists (particle, object) pairs of passives whose particle the parser read
    as a verb particle with a direct object: "a man pushed off a cliff by a woman".
    """
    repairs = repairs_of(verb.doc)
    subjects: list[Token] = []
    objects: list[Token] = []
    patients: list[Token] = []
    agents: list[Token] = []
    for child in verb.children:
        if child.dep_ in _SUBJ:
            subjects.extend(_args(child))
        elif child.dep_ in _PASS_SUBJ:
            patients.extend(_args(child))
        elif child.dep_ in {"agent", "prep"} and child.lower_ == "by":
            continue  # read below
        elif child.dep_ in _OBJ or (
            child.dep_ in {"advmod", "npadvmod"} and child.i in repairs.nouns
        ):
            objects.extend(_args(child))
    for prep in _agent_preps(verb):
        if prep.i in repairs.agents or verb.tag_ in {"VBN", "JJ", "VBD"}:
            agents.extend(a for c in prep.children if c.dep_ == "pobj" for a in _args(c))
    if agents and subjects and not patients and verb.tag_ in {"VBN", "VBD"}:
        patients, subjects = subjects, []  # "a man pushed by a woman": a passive after all
    if agents and not (subjects or patients) and verb.dep_ == "acomp" and verb.head.lemma_ == "be":
        patients = [a for c in verb.head.children if c.dep_ in _SUBJ for a in _args(c)]
    anchor = _clause_anchor(verb)
    passive = bool(patients) or any(c.dep_ == "auxpass" for c in verb.children)
    if anchor.dep_ in {"acl", "relcl"} and anchor.head.pos_ in _NOUNISH:
        head_args = _args(anchor.head)
        passive = passive or verb.tag_ == "VBN" or anchor is not verb
        if passive and not subjects:
            patients = patients or head_args
        elif not subjects:
            subjects = head_args
    misread: list[tuple[Token, Token]] = []
    if agents and patients:  # "pushed off a cliff": the "object" belongs to the particle
        for prt in (c for c in verb.children if c.dep_ == "prt" and c.lower_ in MOVED_OBJECTS):
            misread.extend((prt, c) for c in verb.children if c.dep_ in _OBJ and c.i > prt.i)
        dropped = {a for _, c in misread for a in _args(c)}
        objects = [o for o in objects if o not in dropped]
    if agents:
        subjects, objects = agents, patients + objects
    elif patients and not subjects:
        subjects = patients  # "gate attached to a post": the patient leads
    if not objects and depth == 0:  # "eating and drinking wine": the object is shared
        objects = _shared_objects(verb)
    if not subjects and verb.dep_ in _CLAUSE_LINKS and _is_nounlike(verb.head):
        subjects = _args(verb.head)  # "elephant playing with a ball"
    if not subjects and verb.dep_ in _CLAUSE_LINKS and depth < 3:
        subjects = _verb_args(verb.head, depth + 1)[0]
    if not subjects:  # "phone sitting on table", "man holding box": subject hangs off the verb
        subjects = [
            _ground(c)
            for c in verb.lefts
            if c.dep_ in {"compound", "npadvmod", "nmod", "dep"} and c.pos_ in {"NOUN", "PROPN"}
        ][-1:]
    return subjects, objects, misread


def _stranded(verb: Token) -> list[Token]:
    """Clause-final prepositions without an object: "the bench the man sits on"."""
    doc = verb.doc
    end = len(doc)
    while end and doc[end - 1].is_punct:
        end -= 1
    last = [doc[end - 1]] if end else []
    return [
        c
        for c in verb.children
        if c.dep_ in {"prep", "prt", "advmod"}
        and c.lower_ in STRANDED_PREPOSITIONS
        and not c.n_lefts + c.n_rights
        and c in last
    ]


def _stranded_objects(verb: Token, subjects: list[Token]) -> list[Token]:
    if verb.dep_ == "relcl" and _is_nounlike(verb.head):
        return _args(verb.head)
    fronted = [
        c for c in verb.lefts if c.dep_ in {"nsubj", "pobj", "dobj", "npadvmod"} and _is_nounlike(c)
    ]
    return [a for c in fronted[:1] if len(fronted) > 1 or c not in subjects for a in _args(c)]


def _shared_objects(verb: Token) -> list[Token]:
    """Objects of the next coordinated verb when ``verb`` has none of its own."""
    conj = [c for c in verb.rights if c.dep_ == "conj" and c.pos_ == "VERB"]
    if not conj or conj[0].i != verb.i + 2 or any(c.dep_ == "prep" for c in verb.children):
        return []
    return [a for c in conj[0].children if c.dep_ in _OBJ for a in _args(c)]


def _relation_verb(
    verb: Token, lemmas: WordLemmatizer | None, has_prep: bool, skip: frozenset[int] = frozenset()
) -> str:
    if verb.lemma_ == "be" or verb.pos_ == "AUX" and verb.lemma_ in {"be", "have"}:
        lemma = "" if verb.lemma_ == "be" else "have"
    elif verb.lower_ in VERB_FORMS:
        lemma = VERB_FORMS[verb.lower_]
    elif verb.pos_ == "VERB" or lemmas is None:
        lemma = verb.lemma_.lower()
    else:
        lemma = lemmas.verb(verb.lower_)
    lemma = VERB_MAP.get(lemma, lemma)
    particles = [
        c.lower_
        for c in verb.children
        if c.dep_ == "prt"
        and c.lower_ not in PREPOSITION_HEADS - {"up", "down", "out", "off"}
        and not (has_prep and c.lower_ in DROPPED_PARTICLES)
        and not any(g.dep_ in {"prep", "pobj"} for g in c.children)
        and c not in _stranded(verb)
        and c.i not in skip
    ]
    return " ".join([lemma, *particles]).strip()


def _predicate_arcs(verb: Token, lemmas: WordLemmatizer | None) -> list[_Arc]:
    subjects, objects, misread = _verb_args(verb)
    if any(c.dep_ == "expl" for c in verb.children):  # "there is a car on the track"
        subjects = [a for c in verb.children if c.dep_ == "attr" for a in _args(c)]
        objects, misread = [], []
    attachments = _attachments(verb) + [
        (PREPOSITION_MAP.get(prt.lower_, prt.lower_), obj, prt)
        for prt, target in misread
        for obj in _args(target)
    ]
    skip = frozenset(prt.i for prt, _ in misread)
    relation = _relation_verb(verb, lemmas, bool(attachments), skip)
    if relation == "have" and objects:  # "the pole has a flag on it" -> (flag, on, pole)
        located = _located_on_antecedent(objects, subjects)
        if located:
            return located
    negated = _negates(verb) or _negates(_clause_anchor(verb))
    # "pushing a man off a cliff": (woman, push, man), (woman, push off, man), (man, off, cliff)
    moved = [a for a in attachments if relation and objects and a[2].lower_ in MOVED_OBJECTS]
    attachments = [a for a in attachments if a not in moved]
    phrasal = sorted({MOVED_OBJECTS[marker.lower_] for _, _, marker in moved} - {""})
    arcs: list[_Arc] = []
    for subj in subjects:
        subj_neg = negated or _negates(subj)
        if relation:
            for rel in (relation, *(f"{relation} {p}" for p in phrasal)):
                arcs.extend(_Arc(subj, rel, obj, subj_neg or _negates(obj)) for obj in objects)
        for rel, obj, marker in attachments:
            neg = subj_neg or _negates(obj) or marker.lower_ == "without"
            rel = "with" if rel == "without" else rel
            arcs.append(_Arc(subj, f"{relation} {rel}".strip(), obj, neg))
    for rel, target, _ in moved:
        arcs.extend(_Arc(obj, rel, target, negated or _negates(target)) for obj in objects)
    stranded = _stranded(verb)
    if stranded:  # "the path the horse is on"
        objects = _stranded_objects(verb, subjects)
        subjects = [s for s in subjects if s not in objects]
        for prep in stranded:
            rel = f"{relation} {PREPOSITION_MAP.get(prep.lower_, prep.lower_)}".strip()
            arcs.extend(_Arc(s, rel, o, negated) for s in subjects for o in objects)
    return arcs


def _pronoun_preps(token: Token) -> list[Token]:
    """Prepositions under ``token`` whose object is "it"/"them" ("a flag on it")."""
    return [
        c
        for c in token.children
        if c.dep_ == "prep"
        and any(g.dep_ == "pobj" and g.lower_ in {"it", "them"} for g in c.children)
    ]


def _located_on_antecedent(things: list[Token], owners: list[Token]) -> list[_Arc]:
    """(thing, prep, owner) for "OWNER has/with THING on it"."""
    arcs: list[_Arc] = []
    for thing in things:
        for prep in _pronoun_preps(thing) + _pronoun_preps(thing.head):
            rel = PREPOSITION_MAP.get(prep.lower_, prep.lower_) or prep.lower_
            arcs.extend(_Arc(thing, rel, owner, _negates(thing)) for owner in owners)
    return arcs


# ---------------------------------------------------------------- noun phrases


def _noun_arcs(noun: Token) -> list[_Arc]:
    """Prepositional modifiers, "of" phrases and possessives of a noun."""
    if not _is_entity(noun) or noun.lemma_.lower() in QUANTIFIERS:
        subjects = [_ground(noun)] if _of_object(noun) is not None else []
    else:
        subjects = [noun]
    if noun.dep_ != "conj":  # "trees and bushes on the street": the phrase is shared
        subjects += [c for c in noun.conjuncts if not any(g.dep_ == "prep" for g in c.children)]
    arcs: list[_Arc] = []
    own_neg = _negates(noun)
    for subj in (s for s in subjects if _is_entity(s)):
        for rel, obj, marker in _attachments(noun):
            neg = own_neg or _negates(obj) or marker.lower_ == "without"
            if rel == "with" and _pronoun_preps(obj):  # "a frisbee with a star on it"
                arcs.extend(_located_on_antecedent([obj], [subj]))
                continue
            arcs.append(_Arc(subj, "with" if rel == "without" else rel, obj, neg))
    arcs.extend(_of_arcs(noun))
    for child in noun.children:
        if child.dep_ == "poss" and child.pos_ in {"NOUN", "PROPN"}:
            arcs.extend(_Arc(owner, "have", noun, own_neg) for owner in _args(child))
        elif child.dep_ == "amod" and child.lower_ in HAVING_ADJECTIVES:
            part = HAVING_ADJECTIVES[child.lower_]
            arcs.append(_Arc(noun, "have", child, own_neg, object_text=part))
        elif (
            child.dep_ == "compound"
            and child.pos_ in {"NOUN", "PROPN"}
            and noun.lower_ in PART_NOUNS
        ):
            arcs.append(_Arc(child, "have", noun, own_neg, object_text=noun.lemma_.lower()))
    return arcs


def _of_arcs(noun: Token) -> list[_Arc]:
    """'leg of the man' -> (man, have, leg); 'plate of food' -> (food, on, plate)."""
    lemma = noun.lemma_.lower()
    inner = _of_object(noun)
    if inner is None or not _is_entity(noun):
        return []
    if lemma in QUANTIFIERS or lemma in LOCATION_RELATIONS or lemma in DEPICTIONS:
        return []
    if noun.dep_ == "pobj" and noun.head.dep_ == "prep" and lemma in {"sides"}:
        return []
    container = CONTAINERS.get(lemma)
    if container:
        return [_Arc(obj, container, noun, False) for obj in _args(inner)]
    return [_Arc(owner, "have", noun, False) for owner in _args(inner)]


# ---------------------------------------------------------------- output


def _argument_lemma(token: Token, lemmas: WordLemmatizer | None) -> str:
    if token.tag_.startswith("NN") or token.pos_ in {"NUM", "PROPN"}:
        lemma = token.lemma_
    elif lemmas is not None:
        lemma = lemmas.noun(token.lower_)
    else:
        lemma = token.lower_
    return lemma.lower().strip()


def _phrase(token: Token, lemmas: WordLemmatizer | None) -> str:
    """Head lemma with its compound modifiers: 'train track'."""
    parts: list[str] = []
    for left in token.lefts:
        if left.dep_ == "compound" and left.pos_ in {"NOUN", "PROPN", "ADJ"}:
            parts.extend(t.lower_ for t in left.subtree if t.dep_ == "compound" or t is left)
    parts.append(_argument_lemma(token, lemmas))
    return " ".join(p for p in parts if p)


def _make(arc: _Arc, lemmas: WordLemmatizer | None) -> ORO:
    obj = arc.object_text or _phrase(arc.object, lemmas)
    return ORO(
        subject=_phrase(arc.subject, lemmas),
        relation=arc.relation,
        object=obj,
        negated=arc.negated,
        subject_head=_argument_lemma(arc.subject, lemmas),
        object_head=arc.object_text or _argument_lemma(arc.object, lemmas),
    )
