"""Explain a policy: what it holds (:func:`summarise`) and why a caption matches a rule or not
(:func:`explain_caption`), with the matcher the sets are built with.

For a caption the explanation lists its O-R-O tuples (negation included), the rules each
tuple matches and, when none does, why: which class each word falls in (or that it is in no
class, or is an excluded compound), and for the nearest rules which part did not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relsafe.oro.cleaning import clean_caption
from relsafe.oro.types import ORO
from relsafe.policy.matching import Matcher
from relsafe.policy.schema import SafetyPolicy

PARTS = ("subject", "relation", "object")


def summarise(policy: SafetyPolicy) -> dict[str, Any]:
    """Classes (role, lexicon sizes), rules and totals of a validated policy."""
    classes = {
        name: {
            "role": c.role,
            "lemmas": len(c.lemmas),
            "held_out": len(c.held_out),
            "exclude": len(c.exclude),
        }
        for name, c in policy.classes.items()
    }
    rules = [
        {
            "id": r.id,
            "subject": r.subject,
            "relation": r.relation,
            "object": r.object,
            "category": r.category,
            "severity": r.severity,
            "redirects": len([v for v in r.safe_variants if v.redirect]),
        }
        for r in policy.rules
    ]
    return {
        "version": policy.version,
        "sha256": policy.digest(),
        "classes": classes,
        "rules": rules,
        "totals": {
            "classes": len(classes),
            "rules": len(rules),
            "lemmas": sum(c["lemmas"] for c in classes.values()),
            "held_out": sum(c["held_out"] for c in classes.values()),
            "exclude": sum(c["exclude"] for c in classes.values()),
            "partitives": len(policy.partitives),
        },
    }


@dataclass(frozen=True)
class WordClass:
    """Where one tuple part falls: the classes (with the lemma that matched) or why none."""

    word: str
    classes: dict[str, str]  # class -> lexicon lemma it instantiates
    excluded_by: dict[str, str]  # class -> the exclude compound that blocks it

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "classes": self.classes, "excluded_by": self.excluded_by}

    def describe(self) -> str:
        if self.classes:
            found = ", ".join(
                f"{c}" + (f" (as {lemma!r})" if lemma != self.word else "")
                for c, lemma in self.classes.items()
            )
            return f"{self.word!r} is in {found}"
        if self.excluded_by:
            blocked = ", ".join(f"{c} excludes {x!r}" for c, x in self.excluded_by.items())
            return f"{self.word!r} is an excluded compound ({blocked})"
        return f"{self.word!r} is in no class"


def _classify(matcher: Matcher, oro: ORO, part: str) -> WordClass:
    policy = matcher.policy
    role = "relation" if part == "relation" else "entity"
    word = getattr(oro, part)
    found: dict[str, str] = {}
    excluded: dict[str, str] = {}
    for name, cls in policy.classes.items():
        if cls.role != role:
            continue
        if part == "relation":
            lemma = matcher.rel_lemma(word, name)
        else:
            lemma = matcher.arg_lemma(word, getattr(oro, f"{part}_head"), name)
            if lemma is None and (hit := matcher.excluded(word, name)):
                excluded[name] = hit
        if lemma is not None:
            found[name] = lemma
    return WordClass(word, found, excluded)


def explain_tuple(matcher: Matcher, oro: ORO) -> dict[str, Any]:
    """Matches of one tuple, the class of each part, and for unmatched rules what failed."""
    parts = {p: _classify(matcher, oro, p) for p in PARTS}
    affirmative = ORO(
        oro.subject, oro.relation, oro.object, False, oro.subject_head, oro.object_head
    )
    would_match = [r.id for r in matcher.policy.rules if matcher.match(r, affirmative)]
    matches = [] if oro.negated else would_match
    near = []
    for rule in matcher.policy.rules:
        if rule.id in would_match:
            continue
        needed = {"subject": rule.subject, "relation": rule.relation, "object": rule.object}
        missing = [p for p in PARTS if needed[p] not in parts[p].classes]
        if len(missing) < len(PARTS):  # at least one part fits: worth saying what did not
            near.append(
                {
                    "rule": rule.id,
                    "fits": [p for p in PARTS if p not in missing],
                    "missing": {p: needed[p] for p in missing},
                    "why": "; ".join(
                        f"{p} needs {needed[p]}: {parts[p].describe()}" for p in missing
                    ),
                }
            )
    near.sort(key=lambda n: len(n["missing"]))
    if matches:
        why = f"matches {', '.join(matches)}"
    elif oro.negated and would_match:
        why = f"negated: never unsafe (affirmative, it would match {', '.join(would_match)})"
    elif near:
        fewest = len(near[0]["missing"])
        nearest = [n for n in near if len(n["missing"]) == fewest]
        why = "no rule matches; nearest: " + " | ".join(
            f"{n['rule']} ({n['why']})" for n in nearest
        )
    else:
        why = "no rule matches: " + "; ".join(parts[p].describe() for p in PARTS)
    return {
        "tuple": oro.as_dict(),
        "text": oro.text(),
        "negated": oro.negated,
        "parts": {p: w.to_dict() for p, w in parts.items()},
        "describe": {p: w.describe() for p, w in parts.items()},
        "matches": matches,
        "would_match_if_affirmative": would_match if oro.negated else [],
        "near_misses": near,
        "why": why,
    }


def explain_caption(policy: SafetyPolicy, extractor, text: str, max_chars: int = 1000) -> dict:
    """Clean ``text`` as extraction does, extract its tuples and explain each against ``policy``.

    ``extractor``: a :class:`relsafe.oro.TupleExtractor` (anything with ``extract``).
    """
    cleaned = clean_caption(text, max_chars)
    tuples = extractor.extract([cleaned.text])[0] if not cleaned.skipped else []
    matcher = Matcher(policy)
    explained = [explain_tuple(matcher, t) for t in tuples]
    matched = sorted({r for e in explained for r in e["matches"]})
    if cleaned.skipped:
        verdict = f"not parsed: the caption was skipped ({cleaned.status})"
    elif not tuples:
        verdict = "no O-R-O tuple was extracted, so no rule can match (no subject-verb-object relation found)"
    elif matched:
        verdict = f"unsafe: matches {', '.join(matched)}"
    else:
        verdict = "safe: no tuple matches a rule"
    return {
        "text": text,
        "cleaned": cleaned.text,
        "status": cleaned.status,
        "tuples": explained,
        "matched_rules": matched,
        "unsafe": bool(matched),
        "verdict": verdict,
    }


__all__ = ["explain_caption", "explain_tuple", "summarise"]
