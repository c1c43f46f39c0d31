"""Score extracted tuples against FACTUAL gold scene graphs.

Convention (see the project's data README): relation triples only (relation ``is`` marks
an attribute and is skipped); lower-case; each argument reduced to the lemma of its last
token; the relation lemmatised token by token. Precision, recall and F1 are micro-averaged
over captions, for whole triples and for (subject, object) pairs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from spacy.language import Language
from spacy.tokens import Doc

_TRIPLE = re.compile(r"\(\s*([^,()]*?)\s*,\s*([^,()]*?)\s*,\s*([^,()]*?)\s*\)")

Triple = tuple[str, str, str]


def parse_scene_graph(text: str) -> list[Triple]:
    """``"( girl , is , young ) , ( girl , hold , cup )"`` -> list of raw triples."""
    if not isinstance(text, str):
        return []
    return [(s, r, o) for s, r, o in _TRIPLE.findall(text)]


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 with their counts."""

    tp: int
    n_pred: int
    n_gold: int

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self) -> str:
        """``P 0.712 R 0.655 F1 0.682`` for printing."""
        return f"P {self.precision:.3f} R {self.recall:.3f} F1 {self.f1:.3f}"


class Normalizer:
    """Lemmatise words out of context with a spaCy pipeline's rule lemmatizer.

    Args:
        nlp: a pipeline with a ``lemmatizer`` component.
    """

    def __init__(self, nlp: Language):
        self._vocab = nlp.vocab
        self._lemmatizer = nlp.get_pipe("lemmatizer")
        self.lemma = lru_cache(maxsize=None)(self._lemma)

    def _lemma(self, word: str, pos: str) -> str:
        doc = Doc(self._vocab, words=[word], pos=[pos])
        lemmas = self._lemmatizer.rule_lemmatize(doc[0])  # type: ignore[attr-defined]
        return (lemmas[0] if lemmas else word).lower()

    def argument(self, text: str) -> str:
        """Lemma of the last token, lower-case."""
        words = text.lower().split()
        return self.lemma(words[-1], "NOUN") if words else ""

    def relation(self, text: str) -> str:
        """Each token lemmatised (as a verb), lower-case."""
        return " ".join(self.lemma(w, "VERB") for w in text.lower().split())

    def triple(self, triple: Triple) -> Triple:
        """Normalise one (subject, relation, object) triple."""
        s, r, o = triple
        return self.argument(s), self.relation(r), self.argument(o)


def relation_triples(triples: Iterable[Triple]) -> list[Triple]:
    """Drop attribute triples (relation ``is``)."""
    return [t for t in triples if t[1].strip().lower() != "is"]


def score(
    predicted: Sequence[Iterable[Triple]], gold: Sequence[Iterable[Triple]], norm: Normalizer
) -> tuple[PRF, PRF]:
    """Micro P/R/F1 for triples and for (subject, object) pairs.

    Args:
        predicted: per caption, the predicted (subject, relation, object) triples.
        gold: per caption, the gold triples (attributes are dropped here).
        norm: word normaliser applied to both sides.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold captions")
    counts = [0, 0, 0, 0, 0, 0]
    for pred, ref in zip(predicted, gold):
        p = {norm.triple(t) for t in relation_triples(pred)}
        g = {norm.triple(t) for t in relation_triples(ref)}
        pp, gp = {(s, o) for s, _, o in p}, {(s, o) for s, _, o in g}
        for i, n in enumerate((len(p & g), len(p), len(g), len(pp & gp), len(pp), len(gp))):
            counts[i] += n
    return PRF(*counts[:3]), PRF(*counts[3:])
