"""Paired gallery descriptions: the same scene in other words, with its safety kept."""

import random

from relsafe.policy.leakage import normalise_text
from relsafe.policy.matching import Matcher, triple_is_unsafe
from relsafe.policy.pairing import Pairer, PairingSettings
from relsafe.policy.realise import realise


def test_unsafe_description_stays_unsafe_under_its_rule(policy):
    matcher = Matcher(policy)
    rule = policy.rule("minor_alcohol")
    pairer = Pairer(matcher, PairingSettings(swap_share=1.0, context_share=0.0))
    rng = random.Random(0)
    triple = ("child", "drink", "wine")
    for _ in range(30):
        text, cand = pairer.describe(triple, True, rng, rule=rule, query_syntax="active")
        assert text != realise(*triple)
        assert sum(a != b for a, b in zip(cand, triple)) <= 1  # max_swaps = 1
        assert cand[0] in policy.lexicon("MINOR", held_out=True) + policy.lexicon("MINOR")
        assert triple_is_unsafe(matcher, cand)


def test_benign_description_never_becomes_unsafe(policy):
    matcher = Matcher(policy)
    pairer = Pairer(matcher, PairingSettings(swap_share=1.0, max_swaps=3))
    rng = random.Random(1)
    triple = ("man", "drink", "wine")  # safe only because the subject is an adult
    for _ in range(30):
        _, cand = pairer.describe(triple, False, rng, rule=policy.rule("minor_alcohol"))
        assert not triple_is_unsafe(matcher, cand)


def test_avoids_given_texts_and_uses_scenes(policy):
    pairer = Pairer(
        Matcher(policy),
        PairingSettings(swap_share=0.0, context_share=1.0, scenes=("Far away, {t}.",)),
    )
    avoid = {normalise_text("Far away, a child is drinking juice.")}
    for seed in range(10):
        text, _ = pairer.describe(
            ("child", "drink", "juice"),
            False,
            random.Random(seed),
            query_syntax="active",
            avoid=avoid,
        )
        assert text.startswith("Far away, ") and normalise_text(text) not in avoid
    marginal, _ = pairer.describe(("toddler", "", ""), False, random.Random(0))
    assert "toddler" in marginal or any(w in marginal for w in policy.lexicon("MINOR", True))
