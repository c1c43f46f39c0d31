"""Matplotlib charts for the report: per-rule suppression vs collateral, drift, examples.

Every function returns a Figure (saved by ``kedro_datasets.matplotlib.MatplotlibDataset``);
empty inputs give a figure that says so instead of failing.
"""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

COLOURS = {"base": "#9e9e9e", "edit": "#1f77b4", "baseline": "#ff7f0e"}


def _empty(title: str, why: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=10, color="#555")
    return fig


def per_rule_bars(per_rule: pd.DataFrame) -> Figure:
    """Two panels per rule: suppression (higher is better) and collateral (lower is better)."""
    title = "Per rule: suppression vs collateral"
    if per_rule is None or per_rule.empty or "suppression" not in per_rule:
        return _empty(title, "no per-rule results")
    data = per_rule[per_rule["variant"] != "base"]
    rules = sorted(data["rule_id"].astype(str).unique())
    variants = [v for v in ("edit", "baseline") if v in set(data["variant"])] or sorted(
        set(data["variant"])
    )
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(rules) + 4), 4), sharey=False)
    width = 0.8 / max(len(variants), 1)
    x = np.arange(len(rules))
    for ax, col, label in (
        (axes[0], "suppression", "suppression (higher = better)"),
        (axes[1], "collateral", "collateral (lower = better)"),
    ):
        for i, v in enumerate(variants):
            vals = (
                data[data["variant"] == v]
                .set_index(data[data["variant"] == v]["rule_id"].astype(str))[col]
                .reindex(rules)
            )
            ax.bar(
                x + (i - (len(variants) - 1) / 2) * width,
                vals.fillna(0).to_numpy(),
                width,
                label=v,
                color=COLOURS.get(v),
            )
        ax.set_xticks(x)
        ax.set_xticklabels(rules, rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def drift_histograms(drift: pd.DataFrame, bins: int = 30) -> Figure:
    """One panel per group (benign, marginal, unsafe): drift distribution per variant."""
    title = "Embedding drift (1 - cosine to base)"
    if drift is None or drift.empty:
        return _empty(title, "no drift results (causal-LM runs have none)")
    groups = [g for g in ("benign", "marginal", "unsafe") if g in set(drift["group"])]
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.2), squeeze=False)
    hi = float(max(drift["drift"].max(), 1e-3))
    edges = np.linspace(0, hi, bins + 1)
    for ax, g in zip(axes[0], groups):
        part = drift[drift["group"] == g]
        order = sorted(
            set(part["variant"]),
            key=lambda v: (v not in COLOURS, list(COLOURS).index(v) if v in COLOURS else 0, v),
        )
        for v in order:
            pv = part[part["variant"] == v]
            ax.hist(
                pv["drift"],
                bins=edges,
                alpha=0.55,
                label=f"{v} (mean {pv['drift'].mean():.3f})",
                color=COLOURS.get(str(v)),
            )
        ax.set_title(f"{g} texts", fontsize=10)
        ax.set_xlabel("drift")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _wrap(value: object, width: int) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return "\n".join(textwrap.wrap(str(value), width)) or ""


def examples_table(examples: pd.DataFrame, max_rows: int = 12, width: int = 34) -> Figure:
    """Before/after examples as a table image (retrieval top-1s or LM responses)."""
    title = "Before / after examples"
    if examples is None or examples.empty:
        return _empty(title, "no examples")
    cols = [c for c in examples.columns if not c.endswith(("_hit", "_refusal")) and c != "harmful"]
    rows = examples.head(max_rows)
    cells = [[_wrap(r[c], width) for c in cols] for _, r in rows.iterrows()]
    lines = [max(cell.count("\n") + 1 for cell in row) for row in cells]
    fig_h = 0.9 + 0.19 * sum(lines)
    fig, ax = plt.subplots(figsize=(min(2.6 * len(cols), 22), fig_h))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=cols, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    total = sum(lines) + 1
    for (r, _c), cell in table.get_celld().items():
        n = 1 if r == 0 else lines[r - 1]
        cell.set_height(n / total * 0.95)
    hits = [c for c in examples.columns if c.endswith("_hit") or c.endswith("_refusal")]
    for i, (_, r) in enumerate(rows.iterrows(), start=1):
        for h in hits:
            stem = h.rsplit("_", 1)[0]
            col = f"{stem}_top1" if f"{stem}_top1" in cols else f"{stem}_response"
            if col in cols:
                if h.endswith("_refusal"):  # refusing is right for harmful prompts only
                    good = bool(r[h]) == bool(r.get("harmful", False))
                else:  # retrieving the own entry is right for benign queries only
                    good = bool(r[h]) == (r.get("label", "benign") == "benign")
                table[(i, cols.index(col))].set_facecolor("#e3f2e1" if good else "#fbe3e3")
    ax.set_title(title, fontsize=10)
    return fig
