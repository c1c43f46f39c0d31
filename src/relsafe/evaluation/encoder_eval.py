"""Before/after metrics for an encoder edit on the held-out eval set."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relsafe.evaluation.retrieval import drift, recall_at_k


def encoder_metrics(eval_set: pd.DataFrame, base_emb: np.ndarray, edited_emb: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> tuple[dict[str, float], pd.DataFrame]:
    """Flat metrics and a per-row table.

    Gallery = all eval texts embedded by the base; query i targets gallery row i.
    """
    targets = np.arange(len(eval_set))
    hits_base = recall_at_k(base_emb, base_emb, targets, ks)
    hits_edit = recall_at_k(edited_emb, base_emb, targets, ks)
    rows = eval_set.copy()
    rows["drift"] = drift(edited_emb, base_emb)
    for k in ks:
        rows[f"base_r{k}"] = hits_base[k]
        rows[f"edit_r{k}"] = hits_edit[k]
    metrics: dict[str, float] = {}
    for label, part in rows.groupby("label"):
        for k in ks:
            metrics[f"{label}_r{k}"] = float(part[f"edit_r{k}"].mean())
            metrics[f"base_{label}_r{k}"] = float(part[f"base_r{k}"].mean())
        metrics[f"{label}_drift"] = float(part["drift"].mean())
    for (label, attack), part in rows.groupby(["label", "attack"]):
        for k in ks:
            metrics[f"{label}_{attack}_r{k}"] = float(part[f"edit_r{k}"].mean())
    if "base_benign_r1" in metrics and metrics["base_benign_r1"] > 0:
        metrics["benign_r1_ratio"] = metrics["benign_r1"] / metrics["base_benign_r1"]
    metrics["n_eval"] = float(len(rows))
    return metrics, rows
