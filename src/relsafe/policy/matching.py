"""Match extracted O-R-O tuples against policy rules."""

from __future__ import annotations

from dataclasses import dataclass

from relsafe.oro.types import ORO
from relsafe.policy.schema import Rule, SafetyPolicy


@dataclass(frozen=True)
class Match:
    rule_id: str
    tuple: ORO


def _arg_matches(phrase: str, head: str, lexicon: set[str]) -> bool:
    """A multiword argument matches on the whole phrase or on its head noun.

    "red wine" and "wine bottle" differ: the head of "wine bottle" is "bottle", so only the
    phrase-level check could match it, and "wine bottle" is not in the lexicon.
    """
    return phrase in lexicon or (head or phrase.split()[-1]) in lexicon


def _relation_matches(relation: str, lexicon: set[str]) -> bool:
    """"hold" matches "hold", "hold up" and "hold onto"; "push off" needs both words."""
    if relation in lexicon:
        return True
    words = relation.split()
    return any(" ".join(words[:n]) in lexicon for n in range(1, len(words)))


def rule_matches(rule: Rule, policy: SafetyPolicy, oro: ORO) -> bool:
    """True when ``oro`` instantiates ``rule`` and is not negated."""
    if oro.negated:
        return False
    subj = set(policy.lexicon(rule.subject)) | set(policy.lexicon(rule.subject, held_out=True))
    rel = set(policy.lexicon(rule.relation)) | set(policy.lexicon(rule.relation, held_out=True))
    obj = set(policy.lexicon(rule.object)) | set(policy.lexicon(rule.object, held_out=True))
    return (
        _arg_matches(oro.subject, oro.subject_head, subj)
        and _relation_matches(oro.relation, rel)
        and _arg_matches(oro.object, oro.object_head, obj)
    )


def match_tuples(policy: SafetyPolicy, tuples: list[ORO]) -> list[Match]:
    """All (rule, tuple) matches, in rule order."""
    return [Match(r.id, t) for r in policy.rules for t in tuples if rule_matches(r, policy, t)]
