"""MLflow pyfunc for ``relsafe-encoder``: base encoder + LoRA adapter -> embeddings."""

from __future__ import annotations

import math
from contextlib import nullcontext

import mlflow.pyfunc
import numpy as np
import pandas as pd

TEXT_COLUMN = "text"


def _bad_value(value) -> str | None:
    """Why ``value`` cannot be a row's text, or None when it is a non-empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "is null"
    if not isinstance(value, str):
        return f"is not a string (got {type(value).__name__})"
    if not value.strip():
        return "is empty"
    return None


def column_values(model_input, column: str) -> list[str]:
    """The ``column`` of a DataFrame (or a dict of lists, or a plain list) as strings.

    Raises:
        MlflowException: ``INVALID_PARAMETER_VALUE`` (HTTP 400 when served, no stack trace),
            naming the missing column or every null, non-string or empty row by index.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    if isinstance(model_input, pd.DataFrame):
        if column not in model_input.columns:
            raise MlflowException(
                f"input has no {column!r} column; columns are {list(model_input.columns)}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        values = model_input[column].tolist()
    elif isinstance(model_input, dict):
        if column not in model_input:
            raise MlflowException(
                f"input has no {column!r} key; keys are {list(model_input)}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        values = list(model_input[column])
    else:
        values = list(model_input)
    bad = [(i, why) for i, v in enumerate(values) if (why := _bad_value(v)) is not None]
    if bad:
        shown = "; ".join(f"row {i}: {column!r} {why}" for i, why in bad[:20])
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise MlflowException(
            f"{len(bad)} of {len(values)} rows cannot be scored: {shown}{more}. "
            f"Send one non-empty string per row in column {column!r}; no row was scored.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return values


class EncoderPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(pd.DataFrame({"text": [...]}), params={"base": False})`` -> ``[n, dim]``.

    One model copy is loaded; ``base=True`` runs it with the adapter disabled.
    """

    def load_context(self, context) -> None:
        from relsafe.editing.attach import attach_adapter
        from relsafe.models.encoders import EncoderConfig, load_encoder
        from relsafe.registry.pyfunc_common import checked_load_params

        params, adapter = checked_load_params(context.artifacts)
        self.encoder = load_encoder(EncoderConfig.from_params(params))
        self.encoder.model = attach_adapter(self.encoder.model, adapter)
        self.encoder.eval()

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        params = params or {}
        texts = column_values(model_input, TEXT_COLUMN)
        ctx = self.encoder.model.disable_adapter() if params.get("base", False) else nullcontext()
        with ctx:
            return self.encoder.encode(texts)
