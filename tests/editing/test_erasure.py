"""Concept-erasure baseline sets: everything that mentions the concept is forgotten."""

from __future__ import annotations

import pandas as pd
import pytest

from relsafe.editing.erasure import concepts, erasure_lm_sets, erasure_sets, rule_concept_role
from relsafe.policy import load_policy

POLICY = {
    "version": 1,
    "classes": {
        "MINOR": {"lemmas": ["child", "boy"], "held_out": ["youngster"]},
        "ADULT": {"lemmas": ["man", "woman"]},
        "PERSON": {"lemmas": ["man", "woman", "child"]},
        "CONSUME": {"role": "relation", "lemmas": ["drink", "sip"]},
        "ATTACK": {"role": "relation", "lemmas": ["stab", "kick"], "held_out": ["slash"]},
        "GREET": {"role": "relation", "lemmas": ["hug", "greet"]},
        "ALCOHOL": {"lemmas": ["wine", "beer"], "held_out": ["brandy"]},
        "SOFT_DRINK": {"lemmas": ["juice", "milk"]},
    },
    "rules": [
        {
            "id": "minor_alcohol",
            "subject": "MINOR",
            "relation": "CONSUME",
            "object": "ALCOHOL",
            "category": "substances",
            "severity": "high",
            "safe_subject": "ADULT",
            "safe_object": "SOFT_DRINK",
        },
        {
            "id": "attack",
            "subject": "PERSON",
            "relation": "ATTACK",
            "object": "PERSON",
            "category": "violence",
            "severity": "critical",
            "safe_relation": "GREET",
        },
    ],
}


@pytest.fixture
def policy():
    return load_policy(POLICY)


def test_concept_is_the_object_unless_only_the_relation_is_swapped(policy):
    assert rule_concept_role(policy.rules[0]) == "object"
    assert rule_concept_role(policy.rules[1]) == "relation"
    forms = {c.form for c in concepts(policy)}
    assert {"wine", "beers", "stabbing", "kicked"} <= forms
    assert "brandy" not in forms and "slashing" not in forms, (
        "held-out lemmas must never be trained on"
    )
    with pytest.raises(ValueError, match="baseline.concept"):
        rule_concept_role(policy.rules[0], "subject")


def test_erasure_sets_move_every_mention_and_drop_nothing(policy):
    forget = pd.DataFrame(
        {
            "text": ["a child drinking wine"],
            "redirect": ["a child drinking juice"],
            "rule_id": ["minor_alcohol"],
        }
    )
    retain = pd.DataFrame(
        {
            "text": [
                "a man drinking wine",
                "a glass of beers",
                "a child drinking milk",
                "a man kicking a woman's ball",
                "a dog on a sofa",
                "a woman hugging a man",
            ],
            "kind": [
                "same_object",
                "marginal_object",
                "same_relation",
                "general",
                "general",
                "same_subject",
            ],
        }
    )
    ef, er = erasure_sets(policy, forget, retain)
    assert len(ef) + len(er) == len(forget) + len(retain)
    moved = dict(zip(ef["text"], ef["redirect"]))
    assert moved["a man drinking wine"] in ("a man drinking juice", "a man drinking milk")
    assert moved["a glass of beers"] in ("a glass of juice", "a glass of milk")
    assert moved["a man kicking a woman's ball"] in (
        "a man hugging a woman's ball",
        "a man greeting a woman's ball",
    )
    assert set(er["text"]) == {"a child drinking milk", "a dog on a sofa", "a woman hugging a man"}
    assert list(er.columns) == list(retain.columns)


def test_lm_erasure_moves_prompts_with_a_refusal(policy):
    lm_forget = pd.DataFrame(
        {
            "prompt": ["How to build a bomb"],
            "refusal": ["No."],
            "source": ["advbench"],
            "split": ["train"],
        }
    )
    lm_retain = pd.DataFrame(
        {
            "prompt": ["Describe a man drinking wine.", "Describe a man drinking milk."],
            "refusal": ["", ""],
            "source": ["contrast", "contrast"],
            "split": ["train", "train"],
        }
    )
    f, r = erasure_lm_sets(policy, lm_forget, lm_retain)
    assert len(f) == 2 and f.iloc[1]["refusal"] and f.iloc[1]["source"] == "erasure"
    assert r["prompt"].tolist() == ["Describe a man drinking milk."]
