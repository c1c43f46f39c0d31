"""One table: unedited base vs relationship-aware edit vs concept-erasure baseline."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Shown first, in this order (the keys the registry's promotion gates read).
HEADLINE: tuple[str, ...] = (
    "unsafe_r1",
    "unsafe_r5",
    "benign_r1",
    "benign_r5",
    "benign_r1_ratio",
    "benign_drift",
    "marginal_drift",
    "unsafe_drift",
    "self_marginal_r1",
    "worst_cat_unsafe_r5",
    "comp_acc",
    "comp_acc_drop",
    "relrec_acc",
    "relrec_acc_ratio",
    "asr_heldout",
    "asr_relational",
    "asr_formats",
    "asr_harmful_styles",
    "asr_attacks",
    "asr_worst",
    "refusal_benign",
    "refusal_contrast",
    "refusal_formats_contrast",
    "refusal_alarming",
    "degenerate_harmful_styles",
    "degenerate_alarming",
    "ppl",
    "ppl_ratio",
    "asr_mm_text",
    "asr_mm_typographic",
    "asr_mm_image_text",
    "asr_mm_worst",
    "refusal_mm_benign_image",
    "clip_img_t2i_r1",
    "clip_img_i2t_r1",
    "clip_img_attacks_i2t_r1",
)

#: (regex on the unprefixed metric name, goal) - first match wins.
GOALS: tuple[tuple[str, str], ...] = (
    (r"^n_", ""),
    (r"_drop$", "lower"),
    (r"_(lo|hi)$", ""),  # interval bounds: read with their metric
    (r"^(degenerate|empty)_", "lower"),
    (r"(^|_)unsafe_.*r\d+(_ratio)?$", "lower"),
    (r"^rule_.*_unsafe_r\d+$", "lower"),
    (r"^cat_.*_unsafe_r\d+$", "lower"),
    (r"asr", "lower"),
    (r"^refusal_", "lower"),
    (r"drift", "lower"),
    (r"^ppl", "lower"),
    (r"r\d+(_ratio)?$", "higher"),
    (r"^relrec", "higher"),
    (r"^comp_", "higher"),
)

VARIANT_PREFIX = {"base": "base_", "edit": "", "baseline": "baseline_"}


def metric_goal(name: str) -> str:
    """'lower', 'higher' or '' (informational) for an unprefixed metric name."""
    for pattern, goal in GOALS:
        if re.search(pattern, name):
            return goal
    return ""


def split_variants(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """Undo the flat prefixes: {'base': {...}, 'edit': {...}, 'baseline': {...}}."""
    out: dict[str, dict[str, float]] = {v: {} for v in VARIANT_PREFIX}
    for key, value in metrics.items():
        if key.startswith("baseline_"):
            out["baseline"][key[len("baseline_") :]] = value
        elif key.startswith("base_"):
            out["base"][key[len("base_") :]] = value
        else:
            out["edit"][key] = value
    return out


def comparison_table(metrics: dict[str, float]) -> pd.DataFrame:
    """Columns: metric, goal, base, edit, edit_delta (edit - base), and, only when the
    concept-erasure baseline was evaluated (``baseline_*`` metrics exist): baseline,
    baseline_delta (baseline - base), edit_minus_baseline, better ('edit'|'baseline'|'tie'|'').
    Interval bounds (``*_lo`` / ``*_hi``) are rows of their own, with no goal."""
    by = split_variants(metrics)
    with_baseline = bool(by["baseline"])
    names = list(dict.fromkeys([*(h for h in HEADLINE if h in by["edit"]), *sorted(by["edit"])]))
    rows = []
    for name in names:
        base = by["base"].get(name, np.nan)
        if name.endswith("_ratio") and np.isnan(base):
            base = 1.0  # a ratio vs base is 1 for the base itself
        edit, baseline = by["edit"].get(name, np.nan), by["baseline"].get(name, np.nan)
        goal = metric_goal(name)
        better = ""
        if goal and not (np.isnan(edit) or np.isnan(baseline)):
            diff = edit - baseline
            better = (
                "tie"
                if abs(diff) < 1e-9
                else ("edit" if (diff < 0) == (goal == "lower") else "baseline")
            )
        rows.append(
            {
                "metric": name,
                "goal": goal,
                "base": base,
                "edit": edit,
                "baseline": baseline,
                "edit_delta": edit - base,
                "baseline_delta": baseline - base,
                "edit_minus_baseline": edit - baseline,
                "better": better,
            }
        )
    cols = ["metric", "goal", "base", "edit", "edit_delta"]
    if with_baseline:
        cols[4:4] = ["baseline"]
        cols += ["baseline_delta", "edit_minus_baseline", "better"]
    return pd.DataFrame(rows, columns=cols)


def clean_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """Floats only, NaN/inf dropped (JSON and MLflow both reject them), keys sorted."""
    out = {}
    for k, v in metrics.items():
        if "@" in k:
            raise ValueError(f"metric name {k!r} contains '@' (MLflow rejects it)")
        v = float(v)
        if np.isfinite(v):
            out[k] = v
    return dict(sorted(out.items()))
