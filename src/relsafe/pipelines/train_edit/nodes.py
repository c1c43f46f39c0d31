"""Nodes: sets -> LoRA adapter."""

from __future__ import annotations

import mlflow
import pandas as pd

from relsafe.editing import AdapterBundle, train_encoder_edit
from relsafe.models import EncoderConfig, load_encoder
from relsafe.registry.base_ref import make_base_ref


def _log_metrics(metrics: dict[str, float], step: int) -> None:
    if mlflow.active_run() is not None:
        mlflow.log_metrics(metrics, step=step)


def train_edit(forget: pd.DataFrame, retain: pd.DataFrame, policy_data: dict, model: dict, params: dict) -> tuple[AdapterBundle, pd.DataFrame]:
    from relsafe.policy import load_policy

    policy = load_policy(policy_data, source="conf/base/safety_policy.yml")
    encoder = load_encoder(EncoderConfig.from_params(model))
    manifest = {
        "family": model["family"],
        "base_model": model["name_or_path"],
        "base_sha256": make_base_ref(model)["sha256"],
        "policy_sha256": policy.digest(),
        "data_sha256": pd.util.hash_pandas_object(forget["text"]).sum().item() if len(forget) else 0,
        "params": params,
    }
    return train_encoder_edit(encoder, forget, retain, params, manifest, on_metrics=_log_metrics)
