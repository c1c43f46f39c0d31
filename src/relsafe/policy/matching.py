"""Match extracted O-R-O tuples against policy rules.

Arguments match on the whole phrase, on any word-suffix of it ("red wine" -> "wine",
"assault rifle" -> "rifle"), on the extractor's head lemma, or through a partitive ("glass of
wine" -> "wine"); a phrase that is (or ends with) a class's ``exclude`` compound never
matches ("water gun"). A modifier alone never matches: the head of "wine glass" is "glass".
Relations match exactly or on their leading words ("hold onto" -> "hold"), so a multiword
lemma ("push off") needs all its words. Negated tuples never match.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from relsafe.oro.types import ORO
from relsafe.policy.schema import Rule, SafetyPolicy


@dataclass(frozen=True)
class Match:
    """One (rule, tuple) match; ``held_out`` when a held-out lemma made it match."""

    rule_id: str
    tuple: ORO
    held_out: bool = False


def _suffixes(phrase: str) -> list[str]:
    words = phrase.split()
    return [" ".join(words[i:]) for i in range(len(words))]


def _prefixes(phrase: str) -> list[str]:
    words = phrase.split()
    return [" ".join(words[:n]) for n in range(len(words), 0, -1)]


class Matcher:
    """Rule matching with the policy's lexicons prepared once."""

    def __init__(self, policy: SafetyPolicy) -> None:
        self.policy = policy

    @cached_property
    def _held(self) -> frozenset[str]:
        return frozenset(self.policy.held_out_lemmas())

    def excluded(self, phrase: str, cls: str) -> str | None:
        """The ``exclude`` compound of class ``cls`` that ``phrase`` is or ends with, or None."""
        excl = set(self.policy.classes[cls].exclude)
        phrase = " ".join(phrase.lower().split())
        return next((s for s in _suffixes(phrase) if s in excl), None)

    def arg_lemma(self, phrase: str, head: str, cls: str) -> str | None:
        """The lexicon lemma of class ``cls`` that the argument instantiates, or None."""
        lex = set(self.policy.classes[cls].all_lemmas())
        phrase = " ".join(phrase.lower().split())
        if not phrase or self.excluded(phrase, cls):
            return None
        for s in _suffixes(phrase):
            if s in lex:
                return s
        if head and head in lex:
            return head
        if " of " in phrase:
            left, right = phrase.split(" of ", 1)
            if left.split()[-1] in self.policy.partitives:
                return self.arg_lemma(right, "", cls)
        return None

    def rel_lemma(self, relation: str, cls: str) -> str | None:
        lex = set(self.policy.classes[cls].all_lemmas())
        return next((p for p in _prefixes(" ".join(relation.lower().split())) if p in lex), None)

    def match(self, rule: Rule, oro: ORO) -> Match | None:
        if oro.negated:
            return None
        s = self.arg_lemma(oro.subject, oro.subject_head, rule.subject)
        r = self.rel_lemma(oro.relation, rule.relation) if s else None
        o = self.arg_lemma(oro.object, oro.object_head, rule.object) if r else None
        if o is None:
            return None
        return Match(rule.id, oro, held_out=bool({s, r, o} & self._held))

    def match_all(self, tuples: list[ORO]) -> list[Match]:
        """All (rule, tuple) matches, in rule order."""
        return [m for r in self.policy.rules for t in tuples if (m := self.match(r, t))]

    def matches_ignoring_negation(self, oro: ORO) -> bool:
        """True when ``oro`` would match a rule if it were not negated ("not drinking wine")."""
        plain = ORO(oro.subject, oro.relation, oro.object, False, oro.subject_head, oro.object_head)
        return any(self.match(r, plain) for r in self.policy.rules)


def rule_matches(rule: Rule, policy: SafetyPolicy, oro: ORO) -> bool:
    """True when ``oro`` instantiates ``rule`` and is not negated."""
    return Matcher(policy).match(rule, oro) is not None


def match_tuples(policy: SafetyPolicy, tuples: list[ORO]) -> list[Match]:
    """All (rule, tuple) matches, in rule order."""
    return Matcher(policy).match_all(tuples)


def triple_oro(triple: tuple[str, str, str]) -> ORO:
    """A generated (subject, relation, object) lemma triple as an affirmative ORO."""
    return ORO(
        *triple,
        negated=False,
        subject_head=triple[0].split()[-1],
        object_head=triple[2].split()[-1],
    )


def triple_is_unsafe(matcher: Matcher, triple: tuple[str, str, str]) -> bool:
    """Whether a generated (subject, relation, object) triple matches any rule."""
    oro = triple_oro(triple)
    return any(matcher.match(r, oro) for r in matcher.policy.rules)
