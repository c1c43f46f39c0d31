"""Negation is flagged, never dropped: it matters for safety policies."""

from __future__ import annotations

import pytest

NEGATED = [
    ("a man not wearing a hat", ("man", "wear", "hat")),
    ("the boy is not holding a knife", ("boy", "hold", "knife")),
    ("a woman who is not smoking a cigarette", ("woman", "smoke", "cigarette")),
    ("a dog with no collar", ("dog", "with", "collar")),
    ("a man without a shirt", ("man", "wear", "shirt")),
    ("a girl without an umbrella", ("girl", "with", "umbrella")),
    ("no people on the beach", ("people", "on", "beach")),
    ("the child doesn't drink wine", ("child", "drink", "wine")),
    ("the cat is not on the mat", ("cat", "on", "mat")),
]


@pytest.mark.parametrize(("text", "triple"), NEGATED)
def test_negated(triples_of, text, triple):
    assert (*triple, True) in triples_of(text), sorted(triples_of(text))


def test_positive_is_not_negated(triples_of):
    assert ("man", "wear", "hat", False) in triples_of("a man wearing a hat")
    assert all(not t[3] for t in triples_of("a man with a shirt"))
