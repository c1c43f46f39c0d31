"""Tuple matching: compounds and heads, partitives, exclusions, negation, multiword relations."""

from __future__ import annotations

import pytest

from relsafe.oro import ORO
from relsafe.policy import Matcher, match_tuples, rule_matches


def oro(s, r, o, neg=False, sh="", oh=""):
    return ORO(s, r, o, neg, sh or s.split()[-1], oh or o.split()[-1])


@pytest.mark.parametrize(
    ("tup", "rule"),
    [
        (oro("child", "drink", "wine"), "minor_alcohol"),
        (oro("little girl", "drink", "red wine"), "minor_alcohol"),
        (oro("boy", "drink", "glass of wine", oh="glass"), "minor_alcohol"),
        (oro("youngster", "swig", "bourbon"), "minor_alcohol"),
        (oro("boy", "hold onto", "assault rifle"), "minor_weapon"),
        (oro("woman", "push off", "man"), "person_attacks_person"),
        (oro("stranger", "stab", "man"), "person_attacks_person"),
    ],
)
def test_matches(policy, tup, rule):
    assert rule_matches(policy.rule(rule), policy, tup)


@pytest.mark.parametrize(
    "tup",
    [
        oro("child", "drink", "wine", neg=True),  # negated
        oro("toddler", "hold", "wine glass", oh="glass"),  # modifier only: head is glass
        oro("child", "drink", "root beer"),  # excluded compound
        oro("girl", "hold", "water gun", oh="gun"),  # excluded compound, even with head gun
        oro("man", "drink", "wine"),  # adult
        oro("boy", "push", "man"),  # "push off" needs both words
        oro("man", "kick", "ball"),  # safe object
        oro("child", "drink", "juice"),
        oro("boy", "hold", "umbrella"),
    ],
)
def test_does_not_match(policy, tup):
    assert match_tuples(policy, [tup]) == []


def test_held_out_flag_and_negation_helper(policy):
    m = Matcher(policy)
    (hit,) = m.match_all([oro("preteen", "drink", "beer")])
    assert hit.rule_id == "minor_alcohol" and hit.held_out
    (hit,) = m.match_all([oro("child", "drink", "beer")])
    assert not hit.held_out
    assert m.matches_ignoring_negation(oro("child", "drink", "wine", neg=True))
    assert m.arg_lemma("bottle of vodka", "bottle", "ALCOHOL") == "vodka"
    assert m.rel_lemma("push off", "ATTACK") == "push off"
