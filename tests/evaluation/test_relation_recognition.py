import numpy as np
import pandas as pd
import pytest

from relsafe.evaluation.relation_recognition import (
    recognition_texts,
    relation_items,
    relation_recognition,
)


def bag_of_words(texts):
    vocab = sorted(
        {w for t in texts for w in t.split()}
        | {"drinking", "holding", "hugging", "a", "man", "camera", "juice", "woman"}
    )
    return np.array([[t.split().count(w) for w in vocab] for t in texts], dtype=float), vocab


def test_items_from_params_and_frame():
    items = relation_items([["Man", "hold", "camera"], ["man", "hold", "camera"]])
    assert items.to_dict("records") == [{"subject": "man", "relation": "hold", "object": "camera"}]
    with pytest.raises(ValueError, match=r"items\[0\]"):
        relation_items([["man", "hold"]])
    with pytest.raises(ValueError, match="object"):
        relation_items(pd.DataFrame({"subject": ["a"], "relation": ["b"]}))


def test_recognition_picks_true_relation_and_detects_damage():
    items = relation_items([["man", "hold", "camera"], ["woman", "drink", "juice"]])
    gallery, cands, truth = recognition_texts(items, ["drink", "hug"])
    assert gallery == ["a camera is being held by a man", "juice is being drunk by a woman"]
    assert not {c for group in cands for c in group} & set(gallery)  # never its own text
    assert cands[0] == [
        "a man drinking a camera",
        "a man hugging a camera",
        "a man holding a camera",
    ]
    assert truth.tolist() == [2, 0]
    all_texts = gallery + [c for g in cands for c in g]
    _, vocab = bag_of_words(all_texts)

    stems = {"held": "holding", "drunk": "drinking", "hugged": "hugging"}

    def encode(texts):  # bag of words that knows "held" and "holding" are one relation
        words = [[stems.get(w, w) for w in t.split()] for t in texts]
        return np.array([[ws.count(w) for w in vocab] for ws in words], dtype=float)

    out = relation_recognition(items, ["drink", "hug"], encode(gallery), encode)
    assert out["correct"].all() and out["predicted"].tolist() == ["hold", "drink"]

    def broken(texts):  # an edit that collapsed "holding" onto "hugging"
        return encode([t.replace("holding", "hugging") for t in texts])

    out = relation_recognition(items, ["drink", "hug"], encode(gallery), broken)
    assert out["correct"].tolist() == [False, True]


def test_gallery_in_the_candidates_syntax_is_refused():
    items = relation_items([["man", "hold", "camera"]])
    with pytest.raises(ValueError, match="gallery_syntax"):
        recognition_texts(items, ["drink"], gallery_syntax="active")
