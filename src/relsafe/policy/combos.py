"""Lexicon combinations per rule: unsafe tuples, their redirects, and safe neighbours.

Training combinations use only ``lemmas``; evaluation ones have at least one ``held_out``
lemma, so no held-out word is ever realised in a training set.
"""

from __future__ import annotations

import random
from itertools import product

from relsafe.policy.matching import Matcher, triple_is_unsafe
from relsafe.policy.realise import Triple
from relsafe.policy.schema import PolicyError, Rule, SafetyPolicy, SafeVariant

NEIGHBOUR_KINDS = ("same_subject", "same_object", "same_relation")


def _lex(policy: SafetyPolicy, name: str, held_out: bool) -> list[str]:
    """Training lemmas, or training + held-out lemmas when ``held_out``."""
    c = policy.classes[name]
    return c.all_lemmas() if held_out else list(c.lemmas)


def _has_held_out(policy: SafetyPolicy, triple: Triple) -> bool:
    held = set(policy.held_out_lemmas())
    return any(x in held for x in triple)


def unsafe_combos(policy: SafetyPolicy, rule: Rule, held_out: bool) -> list[Triple]:
    """All realisable unsafe triples of a rule, in lexicon order.

    ``held_out=False``: training lemmas only; ``True``: triples with >= 1 held-out lemma.
    ``rule.relation_objects`` restricts which objects a relation is realised with.
    """
    subj, rel, obj = (_lex(policy, c, held_out) for c in (rule.subject, rule.relation, rule.object))
    out = [
        (s, r, o)
        for s, r, o in product(subj, rel, obj)
        if r not in rule.relation_objects or o in rule.relation_objects[r]
    ]
    return [t for t in out if _has_held_out(policy, t)] if held_out else out


def split_combos(
    combos: list[Triple], eval_frac: float, rng: random.Random
) -> tuple[list[Triple], list[Triple]]:
    """Shuffle and split training-lemma combos into (train, unseen-for-eval)."""
    pool = list(combos)
    rng.shuffle(pool)
    n_eval = round(len(pool) * eval_frac)
    return pool[n_eval:], pool[:n_eval]


def _variant_triples(
    policy: SafetyPolicy, rule: Rule, var: SafeVariant, triple: Triple, held_out: bool
) -> list[Triple]:
    s, r, o = triple
    rels = _lex(policy, var.relation, held_out) if var.relation else [r]
    objs = _lex(policy, var.object, held_out) if var.object else [o]
    return [(s, r2, o2) for r2 in rels for o2 in objs]


def redirect(
    policy: SafetyPolicy,
    matcher: Matcher,
    rule: Rule,
    triple: Triple,
    rng: random.Random,
    held_out: bool = False,
) -> Triple:
    """The nearest safe variant of an unsafe triple: subject kept, relation/object swapped.

    Picks a redirect variant for the triple's relation, then a lemma from its classes
    (held-out lemmas only when ``held_out``); a candidate that itself matches a rule is
    skipped.

    Raises:
        PolicyError: no redirect variant yields a safe triple (a policy authoring error).
    """
    variants = rule.redirects(triple[1])
    cands = [t for v in variants for t in _variant_triples(policy, rule, v, triple, held_out)]
    if not cands:
        raise PolicyError(f"rules.{rule.id}.safe_variants: no redirect for relation {triple[1]!r}")
    rng.shuffle(cands)
    for cand in cands:
        if not triple_is_unsafe(matcher, cand):
            return cand
    raise PolicyError(
        f"rules.{rule.id}.safe_variants: every redirect of {triple} matches an unsafe rule"
    )


def neighbour_combos(
    policy: SafetyPolicy, matcher: Matcher, rule: Rule, held_out: bool
) -> tuple[dict[str, list[Triple]], int]:
    """Safe neighbour triples by kind, and how many candidates were dropped as unsafe.

    - same_subject: rule subject, relation changed by a variant ("a child eating a cookie")
    - same_relation: relation kept, object swapped ("a child drinking water", "a man drinking water")
    - same_object: ``safe_subject`` with the rule's relation and object ("a man drinking wine")
    """
    kinds: dict[str, list[Triple]] = {k: [] for k in NEIGHBOUR_KINDS}
    rel_lemmas = _lex(policy, rule.relation, held_out)
    for var in rule.safe_variants:
        if var.subject:
            subjects = _lex(policy, var.subject, held_out)
        elif var.relation is None and rule.safe_subject:
            subjects = _lex(policy, rule.subject, held_out) + _lex(
                policy, rule.safe_subject, held_out
            )
        else:
            subjects = _lex(policy, rule.subject, held_out)
        kind = "same_relation" if var.relation is None else "same_subject"
        rels = (
            [r for r in rel_lemmas if var.applies_to(r)]
            if var.relation is None
            else _lex(policy, var.relation, held_out)
        )
        objs = (
            _lex(policy, var.object, held_out)
            if var.object
            else _lex(policy, rule.object, held_out)
        )
        kinds[kind].extend(product(subjects, rels, objs))
    if rule.safe_subject:
        objs_for = rule.relation_objects
        kinds["same_object"] = [
            (s, r, o)
            for s, r, o in product(
                _lex(policy, rule.safe_subject, held_out),
                rel_lemmas,
                _lex(policy, rule.object, held_out),
            )
            if r not in objs_for or o in objs_for[r]
        ]
    dropped = 0
    for kind, triples in kinds.items():
        uniq = list(dict.fromkeys(triples))
        if held_out:
            uniq = [t for t in uniq if _has_held_out(policy, t)]
        safe = [t for t in uniq if not triple_is_unsafe(matcher, t)]
        dropped += len(uniq) - len(safe)
        kinds[kind] = safe
    return kinds, dropped


def marginal_lemmas(policy: SafetyPolicy, rule: Rule, held_out: bool) -> dict[str, list[str]]:
    """Subject and object lemmas alone (training lemmas, or held-out ones only)."""
    pick = (
        (lambda c: policy.lexicon(c, held_out=True)) if held_out else (lambda c: policy.lexicon(c))
    )
    return {
        "marginal_subject": list(pick(rule.subject)),
        "marginal_object": list(pick(rule.object)),
    }
