"""Nodes: adapter + metrics -> MLflow registered model version with alias ``challenger``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow

from relsafe.editing import AdapterBundle
from relsafe.registry import register_encoder


def register_adapter(adapter: AdapterBundle, metrics: dict, model: dict, params: dict) -> dict:
    if mlflow.active_run() is not None:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    tags = {f"metric.{k}": v for k, v in metrics.items() if k in params.get("headline_metrics", [])}
    with tempfile.TemporaryDirectory() as tmp:
        adapter.save(Path(tmp) / "adapter")
        return register_encoder(
            Path(tmp) / "adapter", model, model_name=params["encoder_model_name"], alias=params["alias"], tags=tags
        )
