"""Safety policy: schema, tuple matching and forget/retain/eval/LM set generation."""

from relsafe.policy.matching import Match, Matcher, match_tuples, rule_matches
from relsafe.policy.schema import PolicyError, Rule, SafetyPolicy, load_policy

__all__ = [
    "Match",
    "Matcher",
    "PolicyError",
    "Rule",
    "SafetyPolicy",
    "load_policy",
    "match_tuples",
    "rule_matches",
]
