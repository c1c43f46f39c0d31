"""The FACTUAL scoring convention."""

from __future__ import annotations

import pytest

from relsafe.oro.scoring import PRF, Normalizer, parse_scene_graph, relation_triples, score


@pytest.fixture(scope="module")
def norm(extractor):
    return Normalizer(extractor.nlp)


def test_parse_scene_graph():
    text = "( girl , is , young ) , ( girl , sit on , park bench )"
    assert parse_scene_graph(text) == [("girl", "is", "young"), ("girl", "sit on", "park bench")]
    assert relation_triples(parse_scene_graph(text)) == [("girl", "sit on", "park bench")]
    assert parse_scene_graph(float("nan")) == []  # type: ignore[arg-type]


def test_normalise(norm):
    assert norm.triple(("Trees", "growing on", "park benches")) == ("tree", "grow on", "bench")


def test_score_counts(norm):
    gold = [[("girl", "sit on", "bench"), ("girl", "is", "young")], [("man", "hold", "cup")]]
    pred = [[("girl", "sit on", "bench")], [("man", "with", "cup"), ("man", "hold", "hat")]]
    triple, pair = score(pred, gold, norm)
    assert (triple.tp, triple.n_pred, triple.n_gold) == (1, 3, 2)
    assert (pair.tp, pair.n_pred, pair.n_gold) == (2, 3, 2)
    assert pair.recall == 1.0 and triple.f1 == pytest.approx(0.4)
    with pytest.raises(ValueError):
        score(pred, gold[:1], norm)


def test_prf_empty():
    assert PRF(0, 0, 0).f1 == 0.0
