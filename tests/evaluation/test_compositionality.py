"""Compositionality check: items from gold scene graphs, scored with a toy encoder."""

import numpy as np
import pandas as pd
import pytest

from relsafe.evaluation.compositionality import (
    CompositionalityConfig,
    build_items,
    compositionality_metrics,
    parse_graph,
    score_items,
)

FRAME = pd.DataFrame(
    {
        "caption": [
            "man riding a horse on the beach",
            "cup on a wooden table",
            "white stove",
            "woman holding an umbrella",
            "dog under the bench",
        ],
        "scene_graph": [
            "( man , ride , horse ) , ( horse , on , beach )",
            "( cup , on , table ) , ( table , is , wooden )",
            "( stove , is , white )",
            "( woman , hold , umbrella )",
            "( dog , under , bench )",
        ],
    }
)


def test_parse_graph():
    assert parse_graph("( man , ride , horse ) , ( man , is , tall )") == [
        ("man", "ride", "horse"),
        ("man", "is", "tall"),
    ]
    assert parse_graph("nonsense") == []


def test_items_have_positive_and_hard_negatives():
    items = build_items(FRAME, CompositionalityConfig(seed=1)).set_index("caption")
    assert "white stove" not in items.index  # attribute edges carry no relation
    row = items.loc["man riding a horse on the beach"]
    assert row["positive"] == "a man that is riding a horse"
    assert row["neg_swap"] == "a horse that is riding a man"
    assert row["neg_relation"].startswith("a man that is ") and "riding" not in row["neg_relation"]
    prep = items.loc["cup on a wooden table"]
    assert prep["positive"] == "a cup that is on a table"
    assert prep["neg_relation"] == "a cup that is under a table"  # a preposition for a preposition


def _order_aware(texts):
    """Embeds bag of words plus who-comes-first, so swaps are distinguishable."""
    vocab = sorted({w for t in texts for w in t.lower().split()})
    rows = []
    for t in texts:
        words = t.lower().split()
        bow = [words.count(w) for w in vocab]
        first = [1.0 if words and w in words[:3] else 0.0 for w in vocab]
        rows.append(bow + first)
    return np.asarray(rows, dtype=float)


def test_scores_and_metrics():
    items = build_items(FRAME, CompositionalityConfig())
    encode_all = _order_aware(
        [t for c in ("caption", "positive", "neg_swap", "neg_relation") for t in items[c]]
    )
    lookup = {
        t: encode_all[i]
        for i, t in enumerate(
            [t for c in ("caption", "positive", "neg_swap", "neg_relation") for t in items[c]]
        )
    }
    scored = score_items(items, lambda texts: np.stack([lookup[t] for t in texts]))
    m = compositionality_metrics(scored)
    assert m["n_comp"] == len(items) == 4
    assert m["comp_relation_acc"] == 1.0
    assert 0.0 <= m["comp_acc"] <= m["comp_swap_acc"] <= 1.0
    blind = score_items(items, lambda texts: np.ones((len(texts), 3)))  # sees nothing
    assert compositionality_metrics(blind)["comp_acc"] == 0.0  # ties are not wins


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="scene_graph"):
        build_items(FRAME.drop(columns=["scene_graph"]), CompositionalityConfig())
    with pytest.raises(ValueError, match="usable"):
        build_items(FRAME.iloc[[2]], CompositionalityConfig())
    with pytest.raises(ValueError, match="max_itms"):
        CompositionalityConfig.from_params({"max_itms": 3})
    with pytest.raises(ValueError, match="max_items"):
        CompositionalityConfig.from_params({"max_items": 0})
