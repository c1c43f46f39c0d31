"""Lexicon suggestions: corpus vocabulary, ranking near a class, a report, never a policy edit."""

import json

import numpy as np
import pandas as pd
import pytest

from relsafe.policy.suggest import (
    SUGGESTION_COLUMNS,
    SuggestConfig,
    corpus_vocabulary,
    suggest_lexicon,
    suggestions_markdown,
)


def _tuples(rows):
    return pd.DataFrame(
        {
            "caption": [r[0] for r in rows],
            "tuples": [
                json.dumps(
                    [
                        {
                            "subject": s,
                            "relation": r,
                            "object": o,
                            "negated": False,
                            "subject_head": s,
                            "object_head": o,
                        }
                    ]
                )
                for _, (s, r, o) in rows
            ],
        }
    )


CORPUS = _tuples(
    [("a youngster with juice", ("youngster", "sip", "juice"))] * 3
    + [("a lad drinking bourbon", ("lad", "swig", "bourbon"))] * 3
    + [("a table", ("table", "near", "chair"))] * 3
    + [("rare", ("kiddo", "sip", "milk"))]
)
#: A toy embedding: young people / alcohol / furniture / drinking verbs are four directions.
GROUPS = {
    0: [
        "child",
        "kid",
        "boy",
        "girl",
        "toddler",
        "teenager",
        "teen",
        "schoolboy",
        "schoolgirl",
        "baby",
        "youngster",
        "preteen",
        "schoolchild",
        "lad",
        "kiddo",
    ],
    1: [
        "wine",
        "beer",
        "vodka",
        "whiskey",
        "alcohol",
        "liquor",
        "champagne",
        "cocktail",
        "tequila",
        "rum",
        "bourbon",
        "brandy",
    ],
    2: ["table", "chair"],
    3: ["drinking", "sipping", "swigging", "chugging", "gulping", "consuming", "guzzling"],
}


def toy_encode(texts):
    out = np.full((len(texts), 5), 0.01)
    for i, t in enumerate(texts):
        for g, words in GROUPS.items():
            if any(w in t.split() for w in words):
                out[i, g] = 1.0
    return out


def test_vocabulary_counts_heads_and_relations():
    vocab = corpus_vocabulary(CORPUS)
    assert vocab["entity"]["youngster"] == 3 and vocab["relation"]["swig"] == 3
    with pytest.raises(ValueError, match="row 0"):
        corpus_vocabulary(pd.DataFrame({"tuples": ["{not json"]}))


def test_suggests_near_words_not_already_in_the_class(policy):
    frame = suggest_lexicon(policy, CORPUS, toy_encode, SuggestConfig(min_count=3, top_n=5))
    assert list(frame.columns) == SUGGESTION_COLUMNS
    minor = frame[frame["class"] == "MINOR"]
    assert "lad" in set(minor["candidate"])
    assert "youngster" not in set(minor["candidate"])  # already a held-out lemma of MINOR
    assert "kiddo" not in set(frame["candidate"])  # below min_count
    assert "table" not in set(minor["candidate"])  # not near the class
    assert "swig" not in set(frame[frame["class"] == "CONSUME"]["candidate"])  # held-out lemma
    report = suggestions_markdown(frame, policy.digest())
    assert "## MINOR" in report and "| lad |" in report and "Nothing was changed" in report


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match="top_m"):
        SuggestConfig.from_params({"top_m": 3})


def test_words_the_matcher_already_covers_are_not_suggested():
    from relsafe.policy.suggest import already_covered

    assert already_covered("drink from", "relation", {"drink"})
    assert already_covered("red wine", "entity", {"wine"})
    assert already_covered("mans", "entity", {"man"})
    assert not already_covered("swill", "relation", {"drink"})
