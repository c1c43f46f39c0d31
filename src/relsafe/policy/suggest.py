"""Lexicon expansion as a reviewable step: near neighbours of each class from the corpus.

An edit only generalises as far as its lexicon reaches. This proposes, for every policy
class, corpus words (subject / object heads for entity classes, relation lemmas for relation
classes) that the base encoder puts near the class's lemmas. The output is a report for a
safety team to accept into ``safety_policy.yml`` by hand (as ``lemmas`` or ``held_out``);
nothing here changes the policy.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from relsafe.policy.realise import inflect, noun_phrase
from relsafe.policy.schema import SafetyPolicy

Encode = Callable[[list[str]], np.ndarray]
#: Extracted "relations" that are a particle or preposition alone, not a verb to suggest.
NOT_VERBS = frozenset(
    [
        "off",
        "on",
        "in",
        "at",
        "of",
        "out",
        "up",
        "down",
        "over",
        "around",
        "away",
        "back",
        "by",
        "with",
        "to",
        "from",
        "into",
        "onto",
    ]
)

SUGGESTION_COLUMNS = [
    "class",
    "role",
    "candidate",
    "corpus_count",
    "similarity",
    "nearest_lemma",
    "rank",
    "in_class",
]


@dataclass(frozen=True)
class SuggestConfig:
    """``suggest_policy`` params (minus ``model``)."""

    top_n: int = 10  # candidates per class
    min_count: int = 3  # corpus occurrences a candidate needs
    min_similarity: float = 0.5  # cosine to the nearest class lemma
    max_vocab: int = 4000  # most frequent candidate words per role

    @classmethod
    def from_params(cls, block: dict | None) -> SuggestConfig:
        block = {k: v for k, v in dict(block or {}).items() if k != "model"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(block) - known)
        if unknown:
            raise ValueError(
                f"params:suggest_policy: unknown key(s) {unknown}; expected some of {sorted(known | {'model'})}"
            )
        cfg = cls(**block)
        if cfg.top_n < 1 or cfg.min_count < 1 or cfg.max_vocab < 1:
            raise ValueError("params:suggest_policy: top_n, min_count and max_vocab must be >= 1")
        return cfg


def corpus_vocabulary(tuples: pd.DataFrame) -> dict[str, Counter]:
    """Counts of entity heads and relation lemmas over every extracted (non-negated) tuple.

    Raises:
        ValueError: naming the row whose ``tuples`` JSON cannot be read.
    """
    if "tuples" not in tuples.columns:
        raise ValueError(f"caption_tuples: missing column 'tuples'; has {list(tuples.columns)}")
    vocab = {"entity": Counter(), "relation": Counter()}
    for i, raw in enumerate(tuples["tuples"]):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)):
            continue
        try:
            items = json.loads(raw) if isinstance(raw, str) else list(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"caption_tuples row {i}: cannot parse `tuples` ({exc})") from exc
        for t in items:
            for key in ("subject_head", "object_head"):
                word = str(t.get(key) or "").strip().lower()
                if word.isalpha():
                    vocab["entity"][word] += 1
            rel = " ".join(str(t.get("relation") or "").lower().split())
            if rel and all(w.isalpha() for w in rel.split()):
                vocab["relation"][rel] += 1
    return vocab


def already_covered(word: str, role: str, members: set[str]) -> bool:
    """True when the matcher already maps ``word`` onto a member, or it is no new word.

    Relations match on leading words ("drink from" -> "drink"); entities on word suffixes
    ("red wine" -> "wine"). A trailing-"s" variant of a member ("mans") is a lemmatiser slip.
    """
    if word in members or (word.endswith("s") and word[:-1] in members):
        return True
    parts = word.split()
    if role == "relation":
        return any(" ".join(parts[:n]) in members for n in range(1, len(parts)))
    return any(" ".join(parts[i:]) in members for i in range(1, len(parts)))


def phrase_for(word: str, role: str) -> str:
    """How a word is embedded: 'a photo of a kid', 'someone sipping something'."""
    if role == "relation":
        verb, *tail = word.split()
        return " ".join(["someone", inflect(verb, "VBG"), *tail, "something"])
    return f"a photo of {noun_phrase(word)}"


def suggest_lexicon(
    policy: SafetyPolicy, tuples: pd.DataFrame, encode: Encode, cfg: SuggestConfig
) -> pd.DataFrame:
    """Ranked candidates per class (columns :data:`SUGGESTION_COLUMNS`).

    A candidate already in some class is skipped for that class's role only when it is in
    this class; ``in_class`` names any other class holding it, so a reviewer sees overlaps.
    """
    vocab = corpus_vocabulary(tuples)
    owners: dict[tuple[str, str], list[str]] = {}
    for name, c in policy.classes.items():
        for lem in c.all_lemmas():
            owners.setdefault((lem, c.role), []).append(name)
    rows = []
    for role in ("entity", "relation"):
        classes = {n: c for n, c in policy.classes.items() if c.role == role}
        if not classes:
            continue
        words = [w for w, n in vocab[role].most_common(cfg.max_vocab) if n >= cfg.min_count]
        if not words:
            continue
        lemmas = sorted({lem for c in classes.values() for lem in c.all_lemmas()})
        emb = encode([phrase_for(w, role) for w in words + lemmas])
        emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
        cand, lex = emb[: len(words)], dict(zip(lemmas, emb[len(words) :]))
        for name, c in classes.items():
            members = set(c.all_lemmas()) | set(c.exclude)
            sims = cand @ np.stack([lex[m] for m in c.all_lemmas()]).T
            best, nearest = sims.max(axis=1), sims.argmax(axis=1)
            order = np.argsort(-best, kind="stable")
            rank = 0
            for i in order:
                if best[i] < cfg.min_similarity or rank >= cfg.top_n:
                    break
                if already_covered(words[i], role, members) or (
                    role == "relation" and words[i].split()[0] in NOT_VERBS
                ):
                    continue
                rank += 1
                rows.append(
                    {
                        "class": name,
                        "role": role,
                        "candidate": words[i],
                        "corpus_count": int(vocab[role][words[i]]),
                        "similarity": round(float(best[i]), 4),
                        "nearest_lemma": c.all_lemmas()[int(nearest[i])],
                        "rank": rank,
                        "in_class": ",".join(owners.get((words[i], role), [])),
                    }
                )
    return pd.DataFrame(rows, columns=SUGGESTION_COLUMNS)


def suggestions_markdown(frame: pd.DataFrame, policy_digest: str) -> str:
    """The review report: one table per class, and how to accept a suggestion."""
    lines = [
        "# Policy lexicon suggestions",
        "",
        f"Policy digest: `{policy_digest}`. Nothing was changed: accept a candidate by adding it",
        "to the class's `lemmas` (trained on) or `held_out` (evaluation only) in",
        "`conf/base/safety_policy.yml`, then re-run `kedro run`. Check every candidate's sense:",
        "a near neighbour in embedding space can be an antonym or another kind of thing.",
        "",
    ]
    if frame.empty:
        return "\n".join([*lines, "No candidate passed the thresholds."]) + "\n"
    for name, part in frame.groupby("class", sort=True):
        lines += [
            f"## {name}",
            "",
            "| candidate | similarity | nearest lemma | corpus count | also in |",
        ]
        lines.append("| --- | --- | --- | --- | --- |")
        for r in part.itertuples():
            lines.append(
                f"| {r.candidate} | {r.similarity:.3f} | {r.nearest_lemma} | {r.corpus_count} | {r.in_class} |"
            )
        lines.append("")
    return "\n".join(lines)
