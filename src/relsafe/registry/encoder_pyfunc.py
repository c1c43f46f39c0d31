"""MLflow pyfunc for ``relsafe-encoder``: base encoder + LoRA adapter -> embeddings."""

from __future__ import annotations

from contextlib import nullcontext

import mlflow.pyfunc
import numpy as np
import pandas as pd

TEXT_COLUMN = "text"


def column_values(model_input, column: str) -> list[str]:
    """The ``column`` of a DataFrame (or a plain list/Series) as strings; a clear error otherwise."""
    if isinstance(model_input, pd.DataFrame):
        if column not in model_input.columns:
            raise KeyError(
                f"input has no {column!r} column; columns are {list(model_input.columns)}"
            )
        return model_input[column].astype(str).tolist()
    if isinstance(model_input, dict) and column in model_input:
        return [str(t) for t in model_input[column]]
    return [str(t) for t in model_input]


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
