"""Log an adapter as an MLflow pyfunc, register it and point the ``challenger`` alias at it."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from relsafe.models.sources import resolve_model_dir
from relsafe.registry.base_ref import make_base_ref, write_base_ref

logger = logging.getLogger(__name__)
MODEL_CODE = Path(__file__).parent / "model_code"


def register_encoder(
    adapter_dir: str | Path,
    model_params: dict,
    model_name: str = "relsafe-encoder",
    alias: str = "challenger",
    tags: dict[str, str] | None = None,
    example_texts: list[str] | None = None,
) -> dict:
    """Log + register the encoder adapter in the active MLflow run; returns version info."""
    texts = example_texts or ["a child drinking juice", "a man sitting on a bench"]
    with tempfile.TemporaryDirectory() as tmp:
        ref = make_base_ref(model_params)
        ref_path = Path(tmp) / "base_ref.json"
        write_base_ref(ref, ref_path)
        artifacts = {"adapter": str(adapter_dir), "base_ref": str(ref_path)}
        if ref["copy"]:
            artifacts["base_model"] = str(resolve_model_dir(model_params["name_or_path"]))
        signature = infer_signature(
            pd.DataFrame({"text": texts}), params={"base": False}
        )
        active = mlflow.active_run()
        run_ctx = mlflow.start_run() if active is None else None
        try:
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(MODEL_CODE / "encoder_model.py"),
                artifacts=artifacts,
                signature=signature,
                registered_model_name=model_name,
            )
        finally:
            if run_ctx is not None:
                mlflow.end_run()
    client = MlflowClient()
    version = str(info.registered_model_version)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(model_name, version, key, str(value))
    client.set_registered_model_alias(model_name, alias, version)
    logger.info("registered %s version %s as @%s", model_name, version, alias)
    return {"model_name": model_name, "version": version, "alias": alias, "model_uri": info.model_uri, "run_id": info.run_id}
