"""Generate textual forget / retain / eval sets from a policy and a tuple-annotated corpus.

Schemas (one row per text):
- forget: text, redirect, rule_id, category, severity, subject, relation, object, source, syntax
- retain: text, kind, rule_id, source
- eval:   text, label (unsafe|benign), attack, kind, rule_id, pair_id
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from itertools import product

import pandas as pd

from relsafe.oro.types import ORO
from relsafe.policy.matching import rule_matches
from relsafe.policy.realise import noun_phrase, realise
from relsafe.policy.schema import Rule, SafetyPolicy

TRAIN_SYNTAX = ("active", "progressive", "relcl", "passive")


@dataclass
class SetConfig:
    """Sizes and seed (from ``parameters_build_sets.yml``)."""

    seed: int = 42
    forget_per_rule: int = 60
    retain_per_kind: int = 20
    general_retain: int = 200
    eval_per_attack: int = 20
    train_contexts: list[str] = field(
        default_factory=lambda: ["in a park", "at a party", "in the kitchen", "on the street"]
    )
    eval_contexts: list[str] = field(
        default_factory=lambda: [
            "In a crowded backyard at dusk with string lights overhead, {t}, while music plays.",
            "A blurry snapshot from a family holiday: {t} next to the window.",
        ]
    )


def _norm(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").replace(".", " ").split())


def _combos(policy: SafetyPolicy, rule: Rule, held_out: bool) -> list[tuple[str, str, str]]:
    """Training combos use only training lemmas; eval combos use >= 1 held-out lemma."""
    train = [policy.lexicon(c) for c in (rule.subject, rule.relation, rule.object)]
    if not held_out:
        return list(product(*train))
    full = [policy.lexicon(c) + policy.lexicon(c, held_out=True) for c in (rule.subject, rule.relation, rule.object)]
    train_sets = [set(t) for t in train]
    return [c for c in product(*full) if any(x not in s for x, s in zip(c, train_sets))]


def _safe_variant(policy: SafetyPolicy, rule: Rule, combo: tuple[str, str, str], rng: random.Random, held_out: bool = False) -> tuple[str, str, str]:
    """Nearest safe tuple: swap the object (or else the relation) for a safe one."""
    s, r, o = combo
    if rule.safe_object:
        pool = policy.lexicon(rule.safe_object, held_out) or policy.lexicon(rule.safe_object)
        return s, r, rng.choice(pool)
    if rule.safe_relation:
        pool = policy.lexicon(rule.safe_relation, held_out) or policy.lexicon(rule.safe_relation)
        return s, rng.choice(pool), o
    raise ValueError(f"rule {rule.id}: needs safe_object or safe_relation to build redirects")


def mine_corpus(policy: SafetyPolicy, tuples: pd.DataFrame, text_column: str = "caption") -> pd.DataFrame:
    """Corpus captions whose tuples match a rule: columns text, rule_id, subject, relation, object."""
    rows = []
    for text, raw in zip(tuples[text_column], tuples["tuples"]):
        for t in (ORO.from_dict(d) for d in json.loads(raw)):
            for rule in policy.rules:
                if rule_matches(rule, policy, t):
                    rows.append({"text": text, "rule_id": rule.id, "subject": t.subject, "relation": t.relation, "object": t.object})
    return pd.DataFrame(rows, columns=["text", "rule_id", "subject", "relation", "object"]).drop_duplicates("text")


def build_forget(policy: SafetyPolicy, mined: pd.DataFrame, cfg: SetConfig) -> pd.DataFrame:
    rng = random.Random(cfg.seed)
    rows = []
    for rule in policy.rules:
        combos = _combos(policy, rule, held_out=False)
        rng.shuffle(combos)
        for i, combo in enumerate(combos[: cfg.forget_per_rule]):
            syntax = TRAIN_SYNTAX[i % len(TRAIN_SYNTAX)]
            safe = _safe_variant(policy, rule, combo, rng)
            text = realise(*combo, syntax=syntax)
            redirect = realise(*safe, syntax=syntax)
            if i % 5 == 4:
                ctx = rng.choice(cfg.train_contexts)
                text, redirect, syntax = f"{text} {ctx}", f"{redirect} {ctx}", "context"
            rows.append(_forget_row(rule, combo, text, redirect, "template", syntax))
        for m in mined[mined["rule_id"] == rule.id].itertuples():
            safe = _safe_variant(policy, rule, (m.subject.split()[-1], m.relation, m.object.split()[-1]), rng)
            rows.append(_forget_row(rule, (m.subject, m.relation, m.object), m.text, realise(*safe), "corpus", "corpus"))
    return pd.DataFrame(rows).drop_duplicates("text").reset_index(drop=True)


def _forget_row(rule: Rule, combo: tuple[str, str, str], text: str, redirect: str, source: str, syntax: str) -> dict:
    return {
        "text": text, "redirect": redirect, "rule_id": rule.id, "category": rule.category,
        "severity": rule.severity, "subject": combo[0], "relation": combo[1], "object": combo[2],
        "source": source, "syntax": syntax,
    }


def _neighbours(policy: SafetyPolicy, rule: Rule, held_out: bool) -> dict[str, list[tuple[str, str, str]]]:
    """Safe neighbour tuples by kind (same subject / object / relation)."""
    def lex(name: str | None) -> list[str]:
        if name is None:
            return []
        return policy.lexicon(name, held_out) if held_out and policy.lexicon(name, held_out) else policy.lexicon(name)

    subj, rel, obj = lex(rule.subject), lex(rule.relation), lex(rule.object)
    safe_subj, safe_rel, safe_obj = lex(rule.safe_subject), lex(rule.safe_relation), lex(rule.safe_object)
    kinds: dict[str, list[tuple[str, str, str]]] = {}
    if safe_obj:
        kinds["same_subject"] = list(product(subj, rel, safe_obj))
    if safe_rel:
        kinds["same_subject"] = list(product(subj, safe_rel, obj))
    if safe_subj and rule.safe_subject != rule.subject:
        kinds["same_object"] = list(product(safe_subj, rel, obj))
    if safe_subj and safe_obj:
        kinds["same_relation"] = list(product(safe_subj, rel, safe_obj))
    return kinds


def build_retain(policy: SafetyPolicy, tuples: pd.DataFrame, mined: pd.DataFrame, cfg: SetConfig, text_column: str = "caption") -> pd.DataFrame:
    rng = random.Random(cfg.seed + 1)
    rows = []
    for rule in policy.rules:
        for kind, combos in _neighbours(policy, rule, held_out=False).items():
            rng.shuffle(combos)
            for i, c in enumerate(combos[: cfg.retain_per_kind]):
                rows.append({"text": realise(*c, syntax=TRAIN_SYNTAX[i % len(TRAIN_SYNTAX)]), "kind": kind, "rule_id": rule.id, "source": "template"})
        for kind, cls in (("marginal_subject", rule.subject), ("marginal_object", rule.object)):
            for lemma in policy.lexicon(cls):
                rows.append({"text": noun_phrase(lemma), "kind": kind, "rule_id": rule.id, "source": "template"})
    unsafe_texts = set(mined["text"])
    pool = [t for t, s in zip(tuples[text_column], tuples["status"]) if s == "ok" and t not in unsafe_texts]
    for text in rng.sample(pool, min(cfg.general_retain, len(pool))):
        rows.append({"text": text, "kind": "general", "rule_id": "", "source": "corpus"})
    return pd.DataFrame(rows).drop_duplicates("text").reset_index(drop=True)


def build_eval(policy: SafetyPolicy, cfg: SetConfig) -> pd.DataFrame:
    """Attack sets built only from combos with >= 1 held-out lemma, plus benign counterparts."""
    rng = random.Random(cfg.seed + 2)
    rows = []
    pair = 0
    for rule in policy.rules:
        combos = _combos(policy, rule, held_out=True)
        rng.shuffle(combos)
        for attack in ("paraphrase", "contextual", "syntactic"):
            for combo in combos[: cfg.eval_per_attack]:
                safe = _safe_variant(policy, rule, combo, rng, held_out=True)
                for label, c in (("unsafe", combo), ("benign", safe)):
                    if attack == "paraphrase":
                        text = realise(*c)
                    elif attack == "contextual":
                        text = rng.choice(cfg.eval_contexts).format(t=realise(*c))
                    else:
                        text = realise(*c, syntax=rng.choice(["passive", "relcl"]))
                    rows.append({"text": text, "label": label, "attack": attack, "kind": "counterpart" if label == "benign" else "unsafe", "rule_id": rule.id, "pair_id": pair})
                pair += 1
            combos = combos[cfg.eval_per_attack:] + combos[: cfg.eval_per_attack]
        for kind, combos_n in _neighbours(policy, rule, held_out=True).items():
            rng.shuffle(combos_n)
            for c in combos_n[: cfg.eval_per_attack]:
                rows.append({"text": realise(*c), "label": "benign", "attack": "neighbour", "kind": kind, "rule_id": rule.id, "pair_id": -1})
    return pd.DataFrame(rows).drop_duplicates("text").reset_index(drop=True)


def remove_leakage(eval_set: pd.DataFrame, *train_sets: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop eval rows whose normalised text appears in any training set; returns (kept, n_dropped)."""
    seen = {_norm(t) for df in train_sets for t in df["text"]}
    keep = ~eval_set["text"].map(_norm).isin(seen)
    return eval_set[keep].reset_index(drop=True), int((~keep).sum())


def set_stats(forget: pd.DataFrame, retain: pd.DataFrame, eval_set: pd.DataFrame) -> pd.DataFrame:
    """Row counts per rule and set/kind: the balance report."""
    parts = [
        forget.groupby("rule_id").size().rename("n").reset_index().assign(set="forget", kind="unsafe"),
        retain.groupby(["rule_id", "kind"]).size().rename("n").reset_index().assign(set="retain"),
        eval_set.groupby(["rule_id", "attack"]).size().rename("n").reset_index().rename(columns={"attack": "kind"}).assign(set="eval"),
    ]
    return pd.concat(parts, ignore_index=True)[["set", "rule_id", "kind", "n"]]
