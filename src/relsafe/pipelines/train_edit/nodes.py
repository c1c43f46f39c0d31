"""Nodes: sets -> LoRA adapters (the relational edit and the concept-erasure baseline).

Thin wiring: the work is in :func:`relsafe.editing.runner.run_edit`, which dispatches on
``model.family`` (``encoder`` uses forget_set/retain_set, ``causal_lm`` the LM sets).
"""

from __future__ import annotations

import mlflow
import pandas as pd

from relsafe.editing import AdapterBundle
from relsafe.editing.runner import run_edit
from relsafe.policy import load_policy

POLICY_SOURCE = "conf/base/safety_policy.yml"


def _mlflow_logger(prefix: str):
    """Loss terms to the active MLflow run (kedro-mlflow opens one), renamed ``<prefix>/<term>``."""

    def log(metrics: dict[str, float], step: int) -> None:
        if mlflow.active_run() is not None:
            mlflow.log_metrics(
                {f"{prefix}/{k.split('/', 1)[-1]}": v for k, v in metrics.items()}, step=step
            )

    return log


def _train(
    kind: str,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    lm_forget: pd.DataFrame,
    lm_retain: pd.DataFrame,
    policy_data: dict,
    model: dict,
    params: dict,
) -> tuple[AdapterBundle, pd.DataFrame]:
    policy = load_policy(policy_data, source=POLICY_SOURCE)
    prefix = "train" if kind == "edit" else "baseline"
    return run_edit(
        kind,
        model,
        params,
        policy,
        forget,
        retain,
        lm_forget,
        lm_retain,
        on_metrics=_mlflow_logger(prefix),
    )


def train_edit(
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    lm_forget: pd.DataFrame,
    lm_retain: pd.DataFrame,
    policy_data: dict,
    model: dict,
    params: dict,
) -> tuple[AdapterBundle, pd.DataFrame]:
    """The relationship-aware edit: (adapter, per-step loss history)."""
    return _train("edit", forget, retain, lm_forget, lm_retain, policy_data, model, params)


def train_baseline(
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    lm_forget: pd.DataFrame,
    lm_retain: pd.DataFrame,
    policy_data: dict,
    model: dict,
    params: dict,
) -> tuple[AdapterBundle, pd.DataFrame]:
    """The concept-erasure baseline, trained the same way (or an identity adapter marked
    ``skipped`` when ``train_edit.baseline.enabled`` is false)."""
    return _train("baseline", forget, retain, lm_forget, lm_retain, policy_data, model, params)
