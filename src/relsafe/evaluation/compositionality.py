"""Collateral on relational understanding in general: a caption / positive / hard-negative check.

Items come from captions with gold (subject, relation, object) triples (the FACTUAL dev split,
never trained on). For each caption the variant under test embeds:

- the caption itself (the anchor);
- a positive: the same triple in other syntax ("a man that is riding a horse");
- hard negatives: subject and object swapped ("a horse that is riding a man"), and the
  relation replaced by another corpus relation of the same kind ("a man that is feeding a
  horse"; prepositions are replaced by prepositions).

An item is correct when the positive is closer to the anchor than every negative. The score
is the share of correct items; a relational edit must not lower it (a promotion gate).
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relsafe.policy.realise import noun_phrase, realise

Encode = Callable[[list[str]], np.ndarray]
logger = logging.getLogger(__name__)

#: Relations realised as "X that is <rel> Y" without a verb form.
PREPOSITIONS = frozenset(
    [
        "on",
        "in",
        "at",
        "near",
        "behind",
        "under",
        "above",
        "beside",
        "by",
        "over",
        "with",
        "of",
        "around",
        "across",
        "below",
        "beneath",
        "between",
        "outside",
        "inside",
        "through",
        "into",
        "onto",
        "from",
        "to",
        "against",
        "along",
        "alongside",
        "atop",
        "underneath",
        "next",
    ]
)
#: Attribute / possession edges that carry no relation between two objects.
SKIP_RELATIONS = frozenset(["is", "are", "be", "have", "has"])

_TRIPLE = re.compile(r"\(([^()]*)\)")


@dataclass(frozen=True)
class CompositionalityConfig:
    """``evaluate_edit.compositionality`` params."""

    enabled: bool = True
    max_items: int = 400
    seed: int = 0
    caption_column: str = "caption"
    graph_column: str = "scene_graph"

    @classmethod
    def from_params(cls, block: dict | None) -> CompositionalityConfig:
        block = dict(block or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(block) - known)
        if unknown:
            raise ValueError(
                f"evaluate_edit.compositionality: unknown key(s) {unknown}; expected some of {sorted(known)}"
            )
        cfg = cls(**block)
        if cfg.max_items <= 0:
            raise ValueError(
                f"evaluate_edit.compositionality.max_items: {cfg.max_items}; expected > 0"
            )
        return cfg


def parse_graph(graph: str) -> list[tuple[str, str, str]]:
    """'( man , ride , horse ) , ( man , is , tall )' -> [('man', 'ride', 'horse'), ...]."""
    out = []
    for inner in _TRIPLE.findall(str(graph)):
        parts = [" ".join(p.split()).lower() for p in inner.split(",")]
        if len(parts) == 3 and all(parts):
            out.append((parts[0], parts[1], parts[2]))
    return out


def relation_kind(relation: str) -> str:
    return "preposition" if relation.split()[0] in PREPOSITIONS else "verb"


def phrase(subject: str, relation: str, obj: str) -> str:
    """'a man that is riding a horse' / 'a cup that is on a table' (one syntax for every item)."""
    if relation_kind(relation) == "preposition":
        return f"{noun_phrase(subject)} that is {relation} {noun_phrase(obj)}"
    return realise(subject, relation, obj, syntax="relcl_that")


def _usable(caption: str, triple: tuple[str, str, str]) -> bool:
    s, r, o = triple
    words = set(re.findall(r"[a-z]+", caption.lower()))
    return (
        r not in SKIP_RELATIONS
        and s != o
        and set(s.split()) <= words
        and set(o.split()) <= words
        and not set(s.split()) & set(o.split())
    )


def build_items(frame: pd.DataFrame, cfg: CompositionalityConfig) -> pd.DataFrame:
    """One item per caption (its first usable triple), up to ``max_items``, seeded.

    Columns: caption, subject, relation, object, positive, neg_swap, neg_relation.

    Raises:
        ValueError: naming the missing column, or when no caption has a usable triple.
    """
    for col in (cfg.caption_column, cfg.graph_column):
        if col not in frame.columns:
            raise ValueError(
                f"compositionality captions: missing column {col!r}; has {list(frame.columns)}"
            )
    picked = []
    for caption, graph in zip(frame[cfg.caption_column], frame[cfg.graph_column]):
        if not isinstance(caption, str) or not caption.strip():
            continue
        triple = next((t for t in parse_graph(graph) if _usable(caption, t)), None)
        if triple:
            picked.append((caption.strip(), triple))
    if not picked:
        raise ValueError("compositionality captions: no caption has a usable relation triple")
    counts = Counter(t[1] for _, t in picked)
    by_kind: dict[str, list[str]] = {}
    for rel, _ in counts.most_common():
        by_kind.setdefault(relation_kind(rel), []).append(rel)
    rng = random.Random(cfg.seed)
    rng.shuffle(picked)
    rows, lonely = [], 0
    for caption, (s, r, o) in picked[: cfg.max_items]:
        others = [x for x in by_kind[relation_kind(r)] if not set(x.split()) & set(r.split())]
        if not others:
            lonely += 1
            continue
        r2 = rng.choice(others[:30])  # a common relation, so the negative reads naturally
        rows.append(
            {
                "caption": caption,
                "subject": s,
                "relation": r,
                "object": o,
                "positive": phrase(s, r, o),
                "neg_swap": phrase(o, r, s),
                "neg_relation": phrase(s, r2, o),
            }
        )
    skipped = len(frame) - len(picked)
    logger.info(
        "compositionality: %d items from %d captions (%d without a usable relation triple, "
        "%d whose relation has no other relation of its kind, %d over max_items)",
        len(rows),
        len(frame),
        skipped,
        lonely,
        max(0, len(picked) - cfg.max_items),
    )
    return pd.DataFrame(rows)


NEGATIVES = ("neg_swap", "neg_relation")


def score_items(items: pd.DataFrame, encode: Encode) -> pd.DataFrame:
    """Per item: similarities, per-negative correctness and ``correct`` (beats every negative)."""
    cols = ["caption", "positive", *NEGATIVES]
    n = len(items)
    emb = encode([t for c in cols for t in items[c].astype(str)])
    emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
    parts = {c: emb[i * n : (i + 1) * n] for i, c in enumerate(cols)}
    out = items.copy()
    pos = (parts["caption"] * parts["positive"]).sum(1)
    out["sim_positive"] = pos
    correct = np.ones(n, dtype=bool)
    for neg in NEGATIVES:
        sim = (parts["caption"] * parts[neg]).sum(1)
        out[f"sim_{neg}"] = sim
        out[f"beats_{neg}"] = pos > sim
        correct &= pos > sim
    out["correct"] = correct
    return out


def compositionality_metrics(scored: pd.DataFrame) -> dict[str, float]:
    """``comp_acc`` (beats every negative), ``comp_swap_acc``, ``comp_relation_acc``, ``n_comp``."""
    return {
        "comp_acc": float(scored["correct"].mean()),
        "comp_swap_acc": float(scored["beats_neg_swap"].mean()),
        "comp_relation_acc": float(scored["beats_neg_relation"].mean()),
        "n_comp": float(len(scored)),
    }
