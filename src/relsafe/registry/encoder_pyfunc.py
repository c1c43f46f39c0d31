"""MLflow pyfunc for ``relsafe-encoder``: base encoder + LoRA adapter -> embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

TEXT_COLUMN = "text"


class EncoderPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(pd.DataFrame({"text": [...]}), params={"base": False})`` -> ``[n, dim]``."""

    def load_context(self, context) -> None:
        from relsafe.editing.attach import attach_adapter
        from relsafe.models.encoders import EncoderConfig, load_encoder
        from relsafe.registry.base_ref import verify_base

        ref = json.loads(Path(context.artifacts["base_ref"]).read_text())
        params = dict(ref["params"])
        if "base_model" in context.artifacts:
            params["name_or_path"] = context.artifacts["base_model"]
            params["tokenizer"] = context.artifacts["base_model"]
        cfg = EncoderConfig.from_params(params)
        from relsafe.models.sources import resolve_model_dir

        verify_base(ref, resolve_model_dir(cfg.name_or_path))
        self.base = load_encoder(cfg)
        self.base.eval()
        self.edited = load_encoder(cfg)
        self.edited.model = attach_adapter(self.edited.model, context.artifacts["adapter"])
        self.edited.eval()

    def predict(self, context, model_input, params: dict | None = None) -> np.ndarray:
        params = params or {}
        if isinstance(model_input, pd.DataFrame):
            if TEXT_COLUMN not in model_input.columns:
                raise KeyError(f"input has no {TEXT_COLUMN!r} column; columns are {list(model_input.columns)}")
            texts = model_input[TEXT_COLUMN].astype(str).tolist()
        else:
            texts = [str(t) for t in model_input]
        model = self.base if params.get("base", False) else self.edited
        return model.encode(texts)
