"""Nodes: adapter + metrics -> MLflow registered model version with alias ``challenger``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow

from relsafe.editing import AdapterBundle
from relsafe.registry.aliases import registered_model_name
from relsafe.registry.provenance import version_tags
from relsafe.registry.register import FAMILIES, register_model


def headline_for(family: str, register_params: dict) -> list[str]:
    headline = register_params.get("headline_metrics", [])
    return list(headline.get(family, []) if isinstance(headline, dict) else headline)


def register_adapter(adapter: AdapterBundle, metrics: dict, model: dict, params: dict) -> dict:
    """Register the edit of ``model.family`` and point ``params.alias`` at the new version.

    ``metrics`` must have been measured on this very adapter (its ``binding`` block names
    the adapter's content hash); a baseline adapter is refused unless
    ``register.allow_baseline`` is true.
    """
    family = model.get("family", "encoder")
    if family not in FAMILIES:
        raise ValueError(f"model.family {family!r}: expected one of {sorted(FAMILIES)}")
    tags = version_tags(adapter.manifest, model, {}, [])
    if mlflow.active_run() is not None:  # the run records the same provenance as the version
        mlflow.set_tags(
            {
                k: v
                for k, v in tags.items()
                if k == "dvc_data_hash" or k.startswith(("data.", "git_", "policy_"))
            }
        )
    with tempfile.TemporaryDirectory() as tmp:
        adapter.save(Path(tmp) / "adapter")
        return register_model(
            Path(tmp) / "adapter",
            model,
            registered_model_name(family, params),
            family=family,
            alias=params.get("alias", "challenger"),
            tags=tags,
            metrics=metrics,
            copy_base=params.get("copy_base", "auto"),
            smoke_test=bool(params.get("smoke_test", True)),
            lock=params.get("lock"),
            allow_baseline=bool(params.get("allow_baseline", False)),
            headline_metrics=headline_for(family, params),
            card=params.get("model_card"),
        )
