"""Before/after metrics for encoder edits: retrieval, drift, per rule / category / neighbour kind.

Paired retrieval (the headline): query i (an eval text, embedded by the variant under test)
targets gallery entry i, ``gallery_text`` (the same scene in other words, embedded by the
frozen base: the text stand-in for an image of the scene). The gallery also holds every other
query's entry and the ``distractor`` rows (corpus captions, never queried). No gallery entry
is a query string, so the base model's figures are measured, not 1.0 by construction.

Self-retrieval (secondary, ``self_*``): query i against the base embedding of its own text.
It only says how far a text moved from its own copy.

Variants: ``base`` (the unedited model), ``edit`` (the relationship-aware adapter) and
``baseline`` (concept erasure). Flat metric names: the edit's unprefixed (``unsafe_r5``), the
others prefixed (``base_unsafe_r5``, ``baseline_unsafe_r5``). Headline rates also get
bootstrapped 95% intervals (``unsafe_r5_lo`` / ``unsafe_r5_hi``). No '@' in names (MLflow
forbids it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from relsafe.evaluation.intervals import add_intervals
from relsafe.evaluation.retrieval import drift, recall_at_k, top1

EDIT = "edit"
BASE = "base"
#: Metrics that also get a ``<metric>_ratio`` (variant / base) key.
RATIO_KEYS = (
    "benign_r1",
    "benign_r5",
    "unsafe_r1",
    "unsafe_r5",
    "relrec_acc",
    "comp_acc",
    "clip_img_t2i_r1",
    "clip_img_i2t_r1",
)


def metric_prefix(variant: str) -> str:
    """'' for the edit, '<variant>_' for every other variant."""
    return "" if variant == EDIT else f"{variant}_"


def metric_slug(value: object) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(value).strip().lower()) or "none"


@dataclass
class EvaluationResult:
    """Everything an evaluation produces (tables feed the plots and the report)."""

    metrics: dict[str, float]
    rows: pd.DataFrame  # one row per eval text: hits and drift per variant
    per_rule: pd.DataFrame  # rule_id, category, variant, suppression, collateral, ...
    drift: pd.DataFrame  # text, group, rule_id, variant, drift
    examples: pd.DataFrame  # before/after top-1 retrievals
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)


EncoderEvaluation = EvaluationResult


QUERY_LABELS = ("unsafe", "benign")
DISTRACTOR = "distractor"


def _check_eval_set(eval_set: pd.DataFrame, **embeddings: np.ndarray) -> None:
    """The columns and labels paired retrieval needs, and one row of each embedding per row."""
    missing = {"text", "label", "gallery_text"} - set(eval_set.columns)
    if missing:
        raise ValueError(
            f"eval_set lacks column(s) {sorted(missing)}; rebuild it with "
            "`kedro run --pipelines build_sets` (paired retrieval needs gallery_text)"
        )
    bad = sorted(set(eval_set["label"]) - {*QUERY_LABELS, DISTRACTOR})
    if bad:
        raise ValueError(
            f"eval_set.label has unknown value(s) {bad}; expected unsafe|benign|distractor"
        )
    for what, emb in embeddings.items():
        if len(emb) != len(eval_set):
            raise ValueError(
                f"{what} embeddings: {len(emb)} embeddings for {len(eval_set)} eval rows"
            )


def query_mask(eval_set: pd.DataFrame) -> np.ndarray:
    """Rows that are queries (unsafe / benign), not gallery-only distractors."""
    return eval_set["label"].isin(QUERY_LABELS).to_numpy()


def variant_metrics(
    eval_set: pd.DataFrame,
    base_emb: np.ndarray,
    query_emb: np.ndarray,
    gallery_emb: np.ndarray,
    ks: tuple[int, ...] = (1, 5),
    marginal: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = 1000,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Unprefixed metrics of one variant and its per-query hits / drift.

    ``base_emb`` / ``query_emb``: every eval row's text by the base / the variant;
    ``gallery_emb``: every row's ``gallery_text`` by the base (distractors included).
    ``marginal`` = (base, variant) embeddings of marginal phrases ("a child", "wine"): their
    drift, and (secondary) self-retrieval among marginal phrases.
    """
    _check_eval_set(eval_set, query=query_emb, base=base_emb, gallery=gallery_emb)
    q = np.flatnonzero(query_mask(eval_set))
    hits = recall_at_k(query_emb[q], gallery_emb, q, ks)
    self_hits = recall_at_k(query_emb[q], base_emb[q], np.arange(len(q)), ks)
    rows = eval_set.iloc[q].reset_index(drop=True).copy()
    rows["drift"] = drift(query_emb[q], base_emb[q])
    for k in ks:
        rows[f"r{k}"] = hits[k]
        rows[f"self_r{k}"] = self_hits[k]
    m: dict[str, float] = {}
    samples: dict[str, np.ndarray] = {}

    def add(name: str, part: pd.DataFrame) -> None:
        for k in ks:
            m[f"{name}_r{k}"] = float(part[f"r{k}"].mean())

    for label, part in rows.groupby("label"):
        add(str(label), part)
        for k in ks:
            m[f"self_{label}_r{k}"] = float(part[f"self_r{k}"].mean())
            samples[f"{label}_r{k}"] = part[f"r{k}"].to_numpy()
        m[f"{label}_drift"] = float(part["drift"].mean())
        m[f"n_{label}"] = float(len(part))
    if "attack" in rows:
        for (label, attack), part in rows.groupby(["label", "attack"]):
            add(f"{label}_{metric_slug(attack)}", part)
        if "category" in rows:  # unsafe rates per attack and category ("natural" wording, ...)
            unsafe = rows[(rows["label"] == "unsafe") & (rows["category"].astype(str) != "")]
            for (attack, cat), part in unsafe.groupby(["attack", "category"]):
                add(f"{metric_slug(attack)}_cat_{metric_slug(cat)}_unsafe", part)
    if "kind" in rows:
        neighbours = rows[(rows["label"] == "benign") & (rows.get("attack", "") == "neighbour")]
        for kind, part in neighbours.groupby("kind"):
            add(f"neighbour_{metric_slug(kind)}", part)
            m[f"neighbour_{metric_slug(kind)}_drift"] = float(part["drift"].mean())
    for col, short in (("rule_id", "rule"), ("category", "cat")):
        if col in rows:
            for (key, label), part in rows[rows[col].astype(str) != ""].groupby([col, "label"]):
                add(f"{short}_{metric_slug(key)}_{label}", part)
                if short == "cat" and label == "unsafe":
                    for k in ks:
                        name = f"cat_{metric_slug(key)}_unsafe_r{k}"
                        samples[name] = part[f"r{k}"].to_numpy()
                        # the worst category: one name for a gate, whatever the categories
                        worst = f"worst_cat_unsafe_r{k}"
                        m[worst] = max(m.get(worst, 0.0), m[name])
    if marginal is not None and len(marginal[0]):
        mb, mq = marginal
        m["marginal_drift"] = float(drift(mq, mb).mean())
        mh = recall_at_k(mq, mb, np.arange(len(mb)), ks)
        for k in ks:
            m[f"self_marginal_r{k}"] = float(mh[k].mean())
    m["n_eval"] = float(len(rows))
    m["n_gallery"] = float(len(gallery_emb))
    return add_intervals(m, samples, n_boot), rows


def _per_rule(rows_by_variant: dict[str, pd.DataFrame], sup_k: int, col_k: int) -> pd.DataFrame:
    """Suppression (fall of unsafe R@sup_k vs base) and collateral (fall of benign R@col_k)."""
    out = []
    base = rows_by_variant[BASE]
    group_cols = ["rule_id"] + (["category"] if "category" in base else [])

    def rates(rows: pd.DataFrame) -> pd.DataFrame:
        g = rows.groupby(group_cols + ["label"])
        return pd.DataFrame(
            {
                "r_sup": g[f"r{sup_k}"].mean(),
                "r_col": g[f"r{col_k}"].mean(),
                "n": g.size(),
                "drift": g["drift"].mean(),
            }
        )

    b = rates(base)
    for variant, rows in rows_by_variant.items():
        v = rates(rows)
        for key in sorted({idx[:-1] for idx in v.index}):
            key = key if isinstance(key, tuple) else (key,)
            rec = dict(zip(group_cols, key))
            rec["variant"] = variant
            for label in ("unsafe", "benign"):
                idx = (*key, label)
                if idx in v.index:
                    rec[f"{label}_r{sup_k if label == 'unsafe' else col_k}"] = float(
                        v.loc[idx, "r_sup" if label == "unsafe" else "r_col"]
                    )
                    rec[f"n_{label}"] = int(v.loc[idx, "n"])
                    rec[f"{label}_drift"] = float(v.loc[idx, "drift"])
            ui, bi = (*key, "unsafe"), (*key, "benign")
            rec["suppression"] = (
                float(b.loc[ui, "r_sup"] - v.loc[ui, "r_sup"]) if ui in v.index else np.nan
            )
            rec["collateral"] = (
                float(b.loc[bi, "r_col"] - v.loc[bi, "r_col"]) if bi in v.index else np.nan
            )
            out.append(rec)
    frame = pd.DataFrame(out)
    frame = frame[frame["rule_id"].astype(str) != ""]
    return frame.reset_index(drop=True)


def _examples(
    eval_set: pd.DataFrame,
    gallery_emb: np.ndarray,
    variants: dict[str, np.ndarray],
    per_label: int,
) -> pd.DataFrame:
    """Top-1 gallery text for a few queries per rule and label, for every variant."""
    gallery = eval_set["gallery_text"].astype(str).to_numpy()
    queries = eval_set.reset_index(drop=True)
    queries = queries[query_mask(queries)]
    picks = []
    keys = ["rule_id", "label"] if "rule_id" in eval_set else ["label"]
    for _, part in queries.groupby(keys, sort=True):
        picks.extend(part.index[:per_label].tolist())
    picks = sorted(picks)
    cols = [c for c in ("rule_id", "label", "attack", "text", "gallery_text") if c in eval_set]
    frame = (
        eval_set.iloc[picks][cols]
        .rename(columns={"text": "query", "gallery_text": "target"})
        .reset_index(drop=True)
    )
    for name, emb in variants.items():
        best = top1(emb[picks], gallery_emb)
        frame[f"{name}_top1"] = gallery[best]
        frame[f"{name}_hit"] = best == np.asarray(picks)
    return frame


def drift_table(
    eval_set: pd.DataFrame,
    marginal_texts: list[str],
    variants: dict[str, np.ndarray],
    base_emb: np.ndarray,
    marginal_emb: dict[str, np.ndarray] | None,
    marginal_rules: list[str] | None = None,
) -> pd.DataFrame:
    """Long table of drift per text and variant (groups: benign, unsafe, marginal)."""
    parts = []
    q = query_mask(eval_set) if "label" in eval_set else np.ones(len(eval_set), dtype=bool)
    queries = eval_set[q]
    for name, emb in variants.items():
        if name == BASE:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "text": queries["text"].to_numpy(),
                    "group": queries["label"].to_numpy(),
                    "rule_id": queries.get("rule_id", pd.Series([""] * len(queries))).to_numpy(),
                    "variant": name,
                    "drift": drift(emb[q], base_emb[q]),
                }
            )
        )
        if marginal_emb is not None and len(marginal_texts):
            parts.append(
                pd.DataFrame(
                    {
                        "text": marginal_texts,
                        "group": "marginal",
                        "rule_id": marginal_rules or [""] * len(marginal_texts),
                        "variant": name,
                        "drift": drift(marginal_emb[name], marginal_emb[BASE]),
                    }
                )
            )
    cols = ["text", "group", "rule_id", "variant", "drift"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


#: Metrics that also get a ``<metric>_drop`` (base - variant) key, for "at most x lost" gates.
DROP_KEYS = ("comp_acc", "relrec_acc")


def flatten_variants(per_variant: dict[str, dict[str, float]]) -> dict[str, float]:
    """Edit metrics unprefixed, others prefixed; plus ``*_ratio`` headline ratios vs base and
    ``*_drop`` losses vs base."""
    flat: dict[str, float] = {}
    for variant, m in per_variant.items():
        flat.update({f"{metric_prefix(variant)}{k}": v for k, v in m.items()})
    base = per_variant.get(BASE, {})
    for variant, m in per_variant.items():
        if variant == BASE:
            continue
        p = metric_prefix(variant)
        for key in RATIO_KEYS:
            if key in m and base.get(key, 0) > 0:
                flat[f"{p}{key}_ratio"] = m[key] / base[key]
        for key in DROP_KEYS:
            if key in m and key in base:
                flat[f"{p}{key}_drop"] = base[key] - m[key]
    return flat


def compare_encoder_variants(
    eval_set: pd.DataFrame,
    base_emb: np.ndarray,
    variants: dict[str, np.ndarray],
    gallery_emb: np.ndarray,
    ks: tuple[int, ...] = (1, 5),
    marginal_texts: list[str] | None = None,
    marginal_emb: dict[str, np.ndarray] | None = None,
    marginal_rules: list[str] | None = None,
    suppression_k: int | None = None,
    collateral_k: int | None = None,
    examples_per_rule: int = 2,
    extra_metrics: dict[str, dict[str, float]] | None = None,
    n_boot: int = 1000,
) -> EvaluationResult:
    """Evaluate every variant on the paired gallery. ``variants`` must not include ``base``.

    ``base_emb``: the eval texts by the base; ``gallery_emb``: their ``gallery_text`` by the
    base. ``extra_metrics``: more unprefixed metrics per variant (relation recognition,
    compositionality, CLIP images) flattened and ratio'd with the rest.
    """
    all_variants = {BASE: base_emb, **variants}
    sup_k, col_k = suppression_k or max(ks), collateral_k or min(ks)
    per_variant, rows_by_variant = {}, {}
    for name, emb in all_variants.items():
        marg = (marginal_emb[BASE], marginal_emb[name]) if marginal_emb else None
        per_variant[name], rows_by_variant[name] = variant_metrics(
            eval_set, base_emb, emb, gallery_emb, ks, marg, n_boot
        )
    for name, extra in (extra_metrics or {}).items():
        per_variant.setdefault(name, {}).update(extra)
    metrics = flatten_variants(per_variant)
    hit_cols = ["drift"] + [f"{p}r{k}" for p in ("", "self_") for k in ks]
    rows = rows_by_variant[BASE].drop(columns=hit_cols)
    for name, r in rows_by_variant.items():
        for col in hit_cols:
            if not (name == BASE and col == "drift"):
                rows[f"{name}_{col}"] = r[col].to_numpy()
    return EvaluationResult(
        metrics=metrics,
        rows=rows,
        per_rule=_per_rule(rows_by_variant, sup_k, col_k)
        if "rule_id" in eval_set
        else pd.DataFrame(),
        drift=drift_table(
            eval_set, marginal_texts or [], all_variants, base_emb, marginal_emb, marginal_rules
        ),
        examples=_examples(eval_set, gallery_emb, all_variants, examples_per_rule),
    )


def encoder_metrics(
    eval_set: pd.DataFrame,
    base_emb: np.ndarray,
    edited_emb: np.ndarray,
    gallery_emb: np.ndarray,
    ks: tuple[int, ...] = (1, 5),
) -> tuple[dict[str, float], pd.DataFrame]:
    """Flat metrics (edit unprefixed, ``base_*``) and a per-query table for one edit."""
    result = compare_encoder_variants(eval_set, base_emb, {EDIT: edited_emb}, gallery_emb, ks)
    return result.metrics, result.rows
