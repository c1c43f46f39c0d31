"""Concept-erasure baseline sets: forget *every* text that mentions the unsafe concept.

The relational edit forgets "a child drinking wine" but keeps "a man drinking wine" and "a
glass of wine". Concept erasure (the usual approach, e.g. erasing "wine") cannot tell them
apart: it forgets all three. Training it with the same loop, losses and steps as the edit
lets evaluation show the collateral damage that the relational edit avoids.

Per rule, the erased concept is its object class when a redirect variant swaps the object
("alcohol", "weapon"), else its relation class ("attack": stab, kick, ...). Only training
lemmas are used, so the baseline never sees a held-out word either.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass

import pandas as pd
from lemminflect import getAllInflections, getInflection

from relsafe.policy.realise import is_mass, plural
from relsafe.policy.schema import Rule, SafetyPolicy

logger = logging.getLogger(__name__)

CONCEPT_MODES = ("auto", "object", "relation")


@dataclass(frozen=True)
class Concept:
    """One erased word form and what replaces it in the redirect."""

    rule_id: str
    role: str  # "object" | "relation"
    lemma: str
    form: str  # the surface form matched in a text
    tag: str  # NN/NNS for objects, a Penn verb tag for relations
    replacements: tuple[str, ...]  # safe lemmas (inflected at use)


def _redirect_classes(rule: Rule) -> tuple[list[str], list[str]]:
    """(safe object classes, safe relation classes) of the rule's redirect variants."""
    variants = [v for v in getattr(rule, "safe_variants", []) if getattr(v, "redirect", True)]
    objs = [v.object for v in variants if getattr(v, "object", None)]
    rels = [v.relation for v in variants if getattr(v, "relation", None)]
    objs += [rule.safe_object] if getattr(rule, "safe_object", None) else []
    rels += [rule.safe_relation] if getattr(rule, "safe_relation", None) else []
    return list(dict.fromkeys(objs)), list(dict.fromkeys(rels))


def rule_concept_role(rule: Rule, mode: str = "auto") -> str:
    if mode not in CONCEPT_MODES:
        raise ValueError(f"train_edit.baseline.concept: {mode!r}; expected one of {CONCEPT_MODES}")
    if mode != "auto":
        return mode
    objs, _ = _redirect_classes(rule)
    return "object" if objs else "relation"


def _verb_forms(verb: str) -> dict[str, str]:
    """Surface form -> Penn tag for the first word of a (multiword) verb."""
    head = verb.split()[0]
    forms = {head: "VB"}
    for tag, words in getAllInflections(head, upos="VERB").items():
        for w in words:
            forms.setdefault(w, tag)
    return forms


def concepts(policy: SafetyPolicy, mode: str = "auto") -> list[Concept]:
    """Every erased word form, first rule first (a word two rules erase keeps the first)."""
    out: dict[str, Concept] = {}
    for rule in policy.rules:
        role = rule_concept_role(rule, mode)
        objs, rels = _redirect_classes(rule)
        if role == "object":
            safe = tuple(lemma for c in objs for lemma in policy.lexicon(c)) or ("thing",)
            for lemma in policy.lexicon(rule.object):
                for form, tag in ((lemma, "NN"), (plural(lemma), "NNS")):
                    out.setdefault(form, Concept(rule.id, role, lemma, form, tag, safe))
        else:
            safe = tuple(lemma for c in rels for lemma in policy.lexicon(c)) or ("see",)
            for lemma in policy.lexicon(rule.relation):
                for form, tag in _verb_forms(lemma).items():
                    out.setdefault(form, Concept(rule.id, role, lemma, form, tag, safe))
    return sorted(out.values(), key=lambda c: (-len(c.form), c.form))


def _pattern(concept_list: list[Concept]) -> re.Pattern:
    alts = "|".join(re.escape(c.form) for c in concept_list)
    return re.compile(rf"(?<![\w-])({alts})(?![\w-])", re.IGNORECASE)


def _replace(concept: Concept, text: str) -> str:
    """The safe word in the matched form (a stable choice per text)."""
    safe = concept.replacements[zlib.crc32(text.encode()) % len(concept.replacements)]
    if concept.role == "object":
        return plural(safe) if concept.tag == "NNS" and not is_mass(safe) else safe
    head, *tail = safe.split()
    forms = getInflection(head, concept.tag) if concept.tag != "VB" else [head]
    return " ".join([forms[0] if forms else head, *tail])


def erase_text(
    text: str, pattern: re.Pattern, by_form: dict[str, Concept]
) -> tuple[str, str] | None:
    """(redirect, rule_id) when ``text`` mentions an erased concept, else None."""
    hits = list(pattern.finditer(text))
    if not hits:
        return None
    out, last, rule_id = [], 0, ""
    for m in hits:
        concept = by_form[m.group(1).lower()]
        rule_id = rule_id or concept.rule_id
        out.extend([text[last : m.start()], _replace(concept, text)])
        last = m.end()
    out.append(text[last:])
    return "".join(out), rule_id


def erasure_sets(
    policy: SafetyPolicy, forget: pd.DataFrame, retain: pd.DataFrame, mode: str = "auto"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(forget, retain) for the concept-erasure baseline.

    Forget: the edit's forget rows plus every retain row that mentions an erased concept
    (redirected by swapping the word for a safe one; ``source="erasure"``). Retain: the
    remaining retain rows. No row is dropped: each input row lands in exactly one output.
    """
    concept_list = concepts(policy, mode)
    pattern = _pattern(concept_list)
    by_form = {c.form.lower(): c for c in concept_list}
    moved, kept = [], []
    for row in retain.to_dict("records"):
        hit = erase_text(str(row["text"]), pattern, by_form)
        if hit is None:
            kept.append(row)
        else:
            moved.append(
                {
                    "text": row["text"],
                    "redirect": hit[0],
                    "rule_id": hit[1],
                    "source": "erasure",
                    "erased_kind": row.get("kind", ""),
                }
            )
    extra = pd.DataFrame(moved, columns=["text", "redirect", "rule_id", "source", "erased_kind"])
    erase_forget = pd.concat([forget.assign(erased_kind="forget"), extra], ignore_index=True)
    erase_retain = pd.DataFrame(kept, columns=retain.columns).reset_index(drop=True)
    logger.info(
        "concept-erasure baseline: %d forget rows (%d moved from retain: %s), %d retain rows",
        len(erase_forget),
        len(extra),
        extra["erased_kind"].value_counts().to_dict() if len(extra) else {},
        len(erase_retain),
    )
    return erase_forget, erase_retain


DEFAULT_LM_REFUSAL = "I'm sorry, but I can't help with that request."


def erasure_lm_sets(
    policy: SafetyPolicy,
    lm_forget: pd.DataFrame,
    lm_retain: pd.DataFrame,
    mode: str = "auto",
    refusal: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lm_forget, lm_retain) for the causal-LM concept-erasure baseline.

    Every retain prompt that mentions an erased concept ("Describe a photo of a man
    drinking wine.") moves to forget with a refusal target; the rest stay. Splits are kept.
    """
    concept_list = concepts(policy, mode)
    pattern = _pattern(concept_list)
    hit = lm_retain["prompt"].astype(str).map(lambda p: bool(pattern.search(p)))
    moved = lm_retain[hit].assign(refusal=refusal or DEFAULT_LM_REFUSAL, source="erasure")
    logger.info(
        "concept-erasure baseline (LM): %d of %d retain prompts move to forget",
        int(hit.sum()),
        len(lm_retain),
    )
    forget = pd.concat([lm_forget, moved], ignore_index=True)
    return forget, lm_retain[~hit].reset_index(drop=True)
