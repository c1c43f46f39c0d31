"""policy.explain: the policy summary and why a caption matches a rule or not."""

from __future__ import annotations

from relsafe.oro.types import ORO
from relsafe.policy.explain import explain_caption, explain_tuple, summarise
from relsafe.policy.matching import Matcher


def oro(s: str, r: str, o: str, negated: bool = False) -> ORO:
    return ORO(s, r, o, negated, s.split()[-1], o.split()[-1])


class FakeExtractor:
    def __init__(self, tuples: list[ORO]):
        self.tuples = tuples
        self.seen: list[str] = []

    def extract(self, texts):
        self.seen += list(texts)
        return [self.tuples for _ in texts]


def test_summary_counts_classes_rules_and_lexicons(policy):
    s = summarise(policy)
    assert s["totals"]["rules"] == len(policy.rules) and s["sha256"] == policy.digest()
    assert s["classes"]["MINOR"]["role"] == "entity" and s["classes"]["MINOR"]["lemmas"] > 0
    assert {r["id"] for r in s["rules"]} >= {"minor_alcohol"}
    assert s["totals"]["lemmas"] == sum(len(c.lemmas) for c in policy.classes.values())


def test_a_match_names_the_rule_and_each_class(policy):
    e = explain_tuple(Matcher(policy), oro("toddler", "sip", "wine"))
    assert e["matches"] == ["minor_alcohol"] and e["why"] == "matches minor_alcohol"
    assert "MINOR" in e["parts"]["subject"]["classes"]
    assert e["parts"]["relation"]["classes"] == {"CONSUME": "sip"}


def test_negation_never_matches_but_says_what_it_would_match(policy):
    e = explain_tuple(Matcher(policy), oro("toddler", "sip", "wine", negated=True))
    assert e["matches"] == [] and e["would_match_if_affirmative"] == ["minor_alcohol"]
    assert e["why"].startswith("negated")


def test_no_match_says_which_class_each_word_fell_in(policy):
    e = explain_tuple(Matcher(policy), oro("man", "drink", "wine"))
    assert e["matches"] == []
    assert "nearest: minor_alcohol" in e["why"] and "subject needs MINOR" in e["why"]
    assert "'man' is in ADULT" in e["why"]


def test_a_word_in_no_class_and_an_excluded_compound(policy):
    e = explain_tuple(Matcher(policy), oro("toddler", "sip", "zorbleberry"))
    assert e["describe"]["object"] == "'zorbleberry' is in no class"
    assert "object needs ALCOHOL: 'zorbleberry' is in no class" in e["why"]
    gun = explain_tuple(Matcher(policy), oro("kid", "hold", "water gun"))
    assert "excluded compound (WEAPON excludes 'water gun')" in gun["describe"]["object"]


def test_caption_verdicts(policy):
    unsafe = explain_caption(policy, FakeExtractor([oro("toddler", "sip", "wine")]), "x")
    assert unsafe["unsafe"] and unsafe["matched_rules"] == ["minor_alcohol"]
    none = explain_caption(policy, FakeExtractor([]), "a sunny beach")
    assert not none["unsafe"] and "no O-R-O tuple" in none["verdict"]
    fake = FakeExtractor([oro("toddler", "sip", "wine")])
    skipped = explain_caption(policy, fake, "   ")
    assert skipped["verdict"].startswith("not parsed") and fake.seen == []
