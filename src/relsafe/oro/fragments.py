"""Re-build the parse of "SUBJECT V-ing OBJECT" caption fragments the small parser misreads.

On fragments such as "a child snorting cocaine" or "a boy and a girl eating and drinking
juice and milk" the news-trained parser often tags the participle as a noun or adjective
("snorting/amod", "drinking/compound") and hangs everything off the last noun, so no verb
is left to read tuples from. :func:`restructure` finds the surface pattern

    NP (and NP)*  V-ing ((, | and | or) V-ing)*  [NP ((, | and) NP)*]  [PREPOSITION ...]

with tags alone, and when the parse disagrees with it, returns a copy of the ``Doc`` whose
region is re-attached as the pattern reads: the first subject heads the clause, the other
subjects are its conjuncts, the first verb modifies it (``acl``), the other verbs are
conjuncts of the first, and the objects are the last verb's ``dobj`` and its conjuncts.
Tokens outside the region keep their attachments. Correct parses are left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from relsafe.oro.lexicon import ATTRIBUTE_PREPOSITIONS, GERUND_COMPOUNDS, ING_NOUNS

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

    from relsafe.oro.lemmas import WordLemmatizer

#: Tags of words inside a noun phrase, before its head.
_NP_INNER = {"DT", "PDT", "PRP$", "CD", "JJ", "JJR", "JJS", "NN", "NNS", "NNP", "NNPS", "HYPH"}
_NP_INNER_NONHEAD = {"VBN", "VBG"}  # "a stuffed bear", "a smiling child"
_NOUN_TAGS = {"NN", "NNS", "NNP", "NNPS"}
_DETERMINERS = {"DT", "PDT", "PRP$", "CD", "JJ"}
_PHRASE_FOLLOWERS = {"CC", "IN", "TO", "RP", "WDT", "WP", "VBG", "VBN"}
_COORD = {"and", ",", "or", "&"}
_VERB_OK_DEPS = {"ROOT", "acl", "relcl", "conj", "advcl", "xcomp", "ccomp", "pcomp"}
_MODIFIER_DEP = {
    "DT": "det",
    "PDT": "predet",
    "PRP$": "poss",
    "CD": "nummod",
    "HYPH": "punct",
    "NN": "compound",
    "NNS": "compound",
    "NNP": "compound",
    "NNPS": "compound",
}


@dataclass(frozen=True)
class Fragment:
    """One matched "SUBJECT V-ing OBJECT" region (token indices)."""

    start: int
    subjects: tuple[tuple[int, int], ...]  # (first token, head) of each subject phrase
    verbs: tuple[int, ...]
    objects: tuple[tuple[int, int], ...]  # (first token, head) of each object phrase
    end: int  # one past the region


def restructure(doc: Doc, lemmas: WordLemmatizer | None) -> Doc:
    """``doc`` itself, or a re-attached copy when a fragment was misparsed."""
    if lemmas is None or not any(t.lower_.endswith("ing") for t in doc):
        return doc
    fragments: list[Fragment] = []
    i = 0
    while i < len(doc):
        frag = _match(doc, i, lemmas)
        if frag is None:
            i += 1
            continue
        if _misparsed(doc, frag):
            fragments.append(frag)
        i = frag.verbs[-1] + 1
    if not fragments:
        return doc
    return _rebuild(doc, fragments, lemmas) or doc


# ---------------------------------------------------------------- matching


def is_verb_candidate(token: Token, lemmas: WordLemmatizer) -> bool:
    """An -ing word that is a verb form ("snorting"), not an -ing noun ("building")."""
    word = token.lower_
    if len(word) < 5 or not word.endswith("ing") or word in ING_NOUNS or word == "being":
        return False
    if token.pos_ == "VERB" or token.tag_ == "VBG":
        return True
    lemma = lemmas.verb(word)
    return lemma != word and lemmas.known(lemma, "verb")


def _is_head_noun(token: Token, lemmas: WordLemmatizer, adjective: bool = False) -> bool:
    """A noun that can end a phrase; with ``adjective``, also a noun tagged as one."""
    if token.tag_ in _NOUN_TAGS:
        return not token.lower_.endswith("ing") or token.lower_ in ING_NOUNS
    # "a minor buying alcohol": a noun tagged as an adjective after a determiner
    return (
        adjective
        and token.tag_ == "JJ"
        and token.i > 0
        and token.doc[token.i - 1].tag_ in {"DT", "CD"}
        and lemmas.known(token.lower_, "noun")
    )


def _ends_phrase(doc: Doc, i: int) -> bool:
    """Whether a noun phrase can end before token ``i`` (else the phrase was cut short)."""
    return i >= len(doc) or doc[i].is_punct or doc[i].tag_ in _PHRASE_FOLLOWERS


def _phrase_start(doc: Doc, head: int) -> int:
    """First token of the noun phrase ending at ``head``."""
    start = head
    while start > 0:
        prev = doc[start - 1]
        if (
            prev.tag_ in _NP_INNER
            or prev.tag_ == "POS"
            or (
                # a participle only inside a phrase: "a smiling child", not "watching a child"
                prev.tag_ in _NP_INNER_NONHEAD
                and start >= 2
                and doc[start - 2].tag_ in _DETERMINERS
            )
        ):
            start -= 1
        else:
            break
    return start


def _subjects_before(
    doc: Doc, verb: int, lemmas: WordLemmatizer
) -> tuple[tuple[int, int], ...] | None:
    """Coordinated noun phrases ending right before ``verb``: ((start, head), ...)."""
    phrases: list[tuple[int, int]] = []
    head = verb - 1
    while head >= 0 and _is_head_noun(doc[head], lemmas, adjective=head == verb - 1):
        start = _phrase_start(doc, head)
        phrases.insert(0, (start, head))
        if start >= 2 and doc[start - 1].lower_ in _COORD:
            head = start - 2
            if doc[head].lower_ == ",":  # ", and"
                head -= 1
            continue
        break
    return tuple(phrases) or None


def _phrase_after(doc: Doc, i: int, lemmas: WordLemmatizer) -> tuple[int, int] | None:
    """(start, head) of the noun phrase starting at ``i``; its last word must be a noun."""
    j = i
    while j < len(doc) and (
        doc[j].tag_ in _NP_INNER
        or (doc[j].tag_ == "POS" and j > i)  # "a child 's hair"
        or (doc[j].tag_ in _NP_INNER_NONHEAD and j > i and doc[j - 1].tag_ in _DETERMINERS)
    ):
        j += 1
    if j == i or not _is_head_noun(doc[j - 1], lemmas) or not _ends_phrase(doc, j):
        return None
    return (i, j - 1)


def _objects_after(
    doc: Doc, i: int, lemmas: WordLemmatizer
) -> tuple[tuple[tuple[int, int], ...], int]:
    """Coordinated object phrases from ``i`` and the index after them."""
    phrases: list[tuple[int, int]] = []
    first = _phrase_after(doc, i, lemmas)
    if first is None:
        return (), i
    phrases.append(first)
    end = first[1] + 1
    while end + 1 < len(doc) and doc[end].lower_ in _COORD:
        nxt = end + 1 + (doc[end + 1].lower_ in _COORD)
        phrase = _phrase_after(doc, nxt, lemmas)
        if phrase is None:
            break
        after = phrase[1] + 1
        if after < len(doc) and is_verb_candidate(doc[after], lemmas):
            break  # "... and a girl drinking milk": a new clause
        phrases.append(phrase)
        end = after
    return tuple(phrases), end


def _match(doc: Doc, i: int, lemmas: WordLemmatizer) -> Fragment | None:
    if i == 0 or not is_verb_candidate(doc[i], lemmas):
        return None
    subjects = _subjects_before(doc, i, lemmas)
    if subjects is None:
        return None
    verbs = [i]
    j = i + 1
    while j + 1 < len(doc) and doc[j].lower_ in _COORD:
        nxt = j + 1 + (doc[j + 1].lower_ in _COORD)
        if nxt < len(doc) and is_verb_candidate(doc[nxt], lemmas):
            verbs.append(nxt)
            j = nxt + 1
        else:
            break
    objects, end = _objects_after(doc, j, lemmas)
    if not objects or _is_gerund_compound(doc, verbs[-1], objects[0], lemmas):
        return None
    return Fragment(subjects[0][0], subjects, tuple(verbs), objects, end)


def _is_gerund_compound(
    doc: Doc, verb: int, phrase: tuple[int, int], lemmas: WordLemmatizer
) -> bool:
    """ "a paper shopping bag": the -ing word and a bare noun form a known compound."""
    start, head = phrase
    if start != verb + 1 or head != start:
        return False
    return f"{doc[verb].lower_} {lemmas.noun(doc[head].lower_)}" in GERUND_COMPOUNDS


def _misparsed(doc: Doc, frag: Fragment) -> bool:
    """Whether the parse disagrees with the pattern (verbs read as nouns, objects elsewhere)."""
    verbs = {doc[v] for v in frag.verbs}
    if any(v.pos_ != "VERB" or v.dep_ not in _VERB_OK_DEPS for v in verbs):
        return True
    first_object = doc[frag.objects[0][1]]
    return first_object.dep_ != "dobj" or first_object.head not in verbs


# ---------------------------------------------------------------- rebuilding


def _rebuild(doc: Doc, fragments: list[Fragment], lemmas: WordLemmatizer) -> Doc | None:
    """A new ``Doc`` with the fragments re-attached, or ``None`` if no tree results."""
    from spacy.tokens import Doc as SpacyDoc

    heads = [t.head.i for t in doc]
    deps = [t.dep_ for t in doc]
    tags = [t.tag_ for t in doc]
    pos = [t.pos_ for t in doc]
    lemma = [t.lemma_ for t in doc]
    old_root = {t.i for t in doc if t.head.i == t.i}
    assigned: set[int] = set()
    main_root: int | None = None
    for frag in fragments:
        inside = set(range(frag.start, frag.end))
        subject = frag.subjects[0][1]
        clause_head = subject
        if subject not in assigned:
            before = frag.start - 1
            if before < 0:
                heads[subject], deps[subject] = subject, "ROOT"
                main_root = subject
            elif doc[before].tag_ == "IN":
                heads[subject], deps[subject] = before, "pobj"
                outer = before - 1
                if (
                    doc[before].lower_ in ATTRIBUTE_PREPOSITIONS
                    and outer >= 0
                    and _is_head_noun(doc[outer], lemmas)
                ):
                    # "a player in a blue hat holding a racket": the player holds it
                    clause_head = outer
                    heads[before], deps[before] = outer, "prep"
                    if heads[outer] in inside or heads[outer] == before:
                        heads[outer], deps[outer] = outer, "ROOT"
                        main_root = outer
            elif doc[before].pos_ == "VERB":
                heads[subject], deps[subject] = before, "dobj"
            else:
                return None
        for phrase_start, head in frag.subjects + frag.objects:
            _attach_phrase(doc, phrase_start, head, heads, deps)
            if tags[head] not in _NOUN_TAGS:
                tags[head], pos[head], lemma[head] = "NN", "NOUN", lemmas.noun(doc[head].lower_)
        for (phrase_start, head), prev in zip(frag.subjects[1:], frag.subjects):
            heads[head], deps[head] = subject, "conj"
            _attach_between(doc, prev[1], phrase_start, subject, heads, deps)
        first_verb = frag.verbs[0]
        heads[first_verb], deps[first_verb] = clause_head, "acl"
        for verb, prev in zip(frag.verbs[1:], frag.verbs):
            heads[verb], deps[verb] = first_verb, "conj"
            _attach_between(doc, prev, verb, first_verb, heads, deps)
        for verb in frag.verbs:
            tags[verb], pos[verb] = "VBG", "VERB"
            lemma[verb] = lemmas.verb(doc[verb].lower_)
        obj = frag.objects[0][1]
        heads[obj], deps[obj] = frag.verbs[-1], "dobj"
        for (phrase_start, head), prev in zip(frag.objects[1:], frag.objects):
            heads[head], deps[head] = obj, "conj"
            _attach_between(doc, prev[1], phrase_start, obj, heads, deps)
        for t in doc:  # outside tokens hung on the old root move to the verb / clause
            if t.i in inside or heads[t.i] not in inside or t.head.i not in old_root:
                continue
            if t.dep_ in {"prep", "agent"} and t.i > frag.end - 1:
                heads[t.i] = frag.verbs[-1]
        assigned |= inside
    roots = [i for i, h in enumerate(heads) if h == i]
    root = main_root if main_root is not None else roots[0] if roots else -1
    for extra in (r for r in roots if r != root):
        if doc[extra].is_punct:
            heads[extra], deps[extra] = root, "punct"
        elif doc[extra].tag_ == "IN" and fragments:
            heads[extra], deps[extra] = fragments[-1].verbs[-1], "prep"
        else:
            heads[extra], deps[extra] = root, "dep"
    if not _is_tree(heads):
        return None
    deps = ["ROOT" if heads[i] == i else d for i, d in enumerate(deps)]
    return SpacyDoc(
        doc.vocab,
        words=[t.text for t in doc],
        spaces=[bool(t.whitespace_) for t in doc],
        tags=tags,
        pos=pos,
        lemmas=lemma,
        heads=heads,
        deps=deps,
    )


def _attach_phrase(doc: Doc, start: int, head: int, heads: list[int], deps: list[str]) -> None:
    """Determiners, adjectives, compounds and possessors of a phrase hang on its head."""
    for k in range(start, head):
        if doc[k].tag_ == "POS":
            heads[k], deps[k] = k - 1, "case"
        elif doc[k + 1].tag_ == "POS":
            heads[k], deps[k] = head, "poss"
        else:
            heads[k], deps[k] = head, _MODIFIER_DEP.get(doc[k].tag_, "amod")


def _attach_between(
    doc: Doc, left: int, right: int, anchor: int, heads: list[int], deps: list[str]
) -> None:
    """Coordinators and commas between two conjuncts hang on the first conjunct."""
    for k in range(left + 1, right):
        if doc[k].lower_ in _COORD:
            heads[k] = anchor
            deps[k] = "punct" if doc[k].is_punct else "cc"


def _is_tree(heads: list[int]) -> bool:
    """One root and no cycles."""
    if sum(1 for i, h in enumerate(heads) if h == i) != 1:
        return False
    for i in range(len(heads)):
        node, steps = i, 0
        while heads[node] != node:
            node = heads[node]
            steps += 1
            if steps > len(heads):
                return False
    return True
