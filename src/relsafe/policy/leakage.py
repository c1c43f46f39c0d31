"""Train/eval leakage: normalised text overlap and held-out lexicon items in training text."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
from lemminflect import getAllInflections, getAllInflectionsOOV

from relsafe.policy.schema import SafetyPolicy

_ARTICLES = frozenset({"a", "an", "the"})


def normalise_text(text: str) -> str:
    """Lower-case, punctuation and articles dropped, whitespace collapsed."""
    words = re.sub(r"[^\w\s-]", " ", str(text).lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def _word_forms(word: str) -> set[str]:
    forms = {word}
    for upos in ("NOUN", "VERB"):
        infl = getAllInflections(word, upos=upos) or getAllInflectionsOOV(word, upos=upos)
        for values in infl.values():
            forms.update(values)
    return {f.lower() for f in forms}


def held_out_pattern(policy: SafetyPolicy) -> re.Pattern[str] | None:
    """A regex finding any inflected form of any held-out lemma in normalised text.

    Single words match in every inflection ("swig", "swigs", "swigging"); multiword lemmas
    inflect their first word (verbs: "puffing on") and their last word (nouns: "yo-yos").
    """
    alts: set[str] = set()
    for lemma in policy.held_out_lemmas():
        words = lemma.split()
        if len(words) == 1:
            alts |= _word_forms(words[0])
            continue
        for first in _word_forms(words[0]):
            alts.add(" ".join([first, *words[1:]]))
        for last in _word_forms(words[-1]):
            alts.add(" ".join([*words[:-1], last]))
    if not alts:
        return None
    body = "|".join(re.escape(a) for a in sorted(alts, key=lambda a: (-len(a), a)))
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])")


def held_out_hits(texts: Iterable[str], policy: SafetyPolicy) -> list[bool]:
    """For each text: does it contain a held-out lexicon item?"""
    pattern = held_out_pattern(policy)
    if pattern is None:
        return [False for _ in texts]
    return [bool(pattern.search(normalise_text(t))) for t in texts]


def training_texts(
    *train_sets: pd.DataFrame, columns: tuple[str, ...] = ("text", "redirect")
) -> set[str]:
    """Normalised texts of every training set (inputs and redirect targets)."""
    seen: set[str] = set()
    for df in train_sets:
        for col in columns:
            if col in df.columns:
                seen.update(normalise_text(t) for t in df[col] if isinstance(t, str) and t)
    return seen


def remove_leakage(eval_set: pd.DataFrame, *train_sets: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop eval rows whose normalised text is in a training set, with their paired row.

    Returns (kept, number of rows dropped).
    """
    seen = training_texts(*train_sets)
    leaked = eval_set["text"].map(normalise_text).isin(seen)
    if "pair_id" in eval_set.columns:
        bad_pairs = set(eval_set.loc[leaked & (eval_set["pair_id"] >= 0), "pair_id"])
        leaked = leaked | eval_set["pair_id"].isin(bad_pairs)
    return eval_set[~leaked].reset_index(drop=True), int(leaked.sum())


def leakage_report(
    policy: SafetyPolicy, eval_set: pd.DataFrame, *train_sets: pd.DataFrame
) -> dict[str, int]:
    """Counts that must all be zero: eval texts seen in training, held-out items in training."""
    seen = training_texts(*train_sets)
    train_held = sum(
        sum(held_out_hits([t for t in df[c] if isinstance(t, str)], policy))
        for df in train_sets
        for c in ("text", "redirect")
        if c in df.columns
    )
    return {
        "eval_text_in_train": int(eval_set["text"].map(normalise_text).isin(seen).sum()),
        "held_out_in_train": int(train_held),
    }
