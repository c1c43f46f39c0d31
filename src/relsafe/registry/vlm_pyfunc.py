"""MLflow pyfunc for ``relsafe-vlm``: base VLM + LoRA adapter on its language model ->
greedy answers to a prompt with an optional image."""

from __future__ import annotations

from contextlib import nullcontext

import mlflow.pyfunc
import pandas as pd

from relsafe.registry.encoder_pyfunc import column_values

PROMPT_COLUMN = "prompt"
IMAGE_COLUMN = "image"
RESPONSE_COLUMN = "response"
DEFAULT_MAX_NEW_TOKENS = 64


def row_images(model_input, n: int) -> list:
    """The decoded ``image`` column (PIL images or None), or ``n`` Nones without the column.

    Raises:
        MlflowException: ``INVALID_PARAMETER_VALUE`` (HTTP 400 when served) naming every row
            whose image is neither a readable file nor a base64 image; no row is generated.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    from relsafe.models.vlm import ImageDecodeError, decode_image

    if isinstance(model_input, pd.DataFrame):
        values = model_input[IMAGE_COLUMN].tolist() if IMAGE_COLUMN in model_input else None
    elif isinstance(model_input, dict):
        values = list(model_input[IMAGE_COLUMN]) if IMAGE_COLUMN in model_input else None
    else:
        values = None
    if values is None:
        return [None] * n
    images, bad = [], []
    for i, value in enumerate(values):
        try:
            images.append(decode_image(value, row=i))
        except ImageDecodeError as exc:
            bad.append(str(exc))
            images.append(None)
    if bad:
        shown = "; ".join(bad[:20])
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise MlflowException(
            f"{len(bad)} of {len(values)} rows have an image that cannot be decoded: {shown}{more}. "
            f"Send a base64 PNG, a file path or null per row in column {IMAGE_COLUMN!r}; "
            "no row was generated.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return images


class VLMPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(pd.DataFrame({"prompt": [...], "image": [...]}), params={"base": False,
    "max_new_tokens": 64})`` -> ``pd.DataFrame({"response": [...]})``, greedy, with the
    VLM's chat template. ``image`` is optional: a base64 PNG, a file path, or None for a
    text-only row.

    One model copy is loaded; ``base=True`` generates with the adapter disabled.
    """

    def load_context(self, context) -> None:
        from relsafe.editing.attach import attach_adapter
        from relsafe.models.vlm import VLMConfig, load_vlm
        from relsafe.registry.pyfunc_common import checked_load_params

        params, adapter = checked_load_params(context.artifacts)
        model, self.processor = load_vlm(VLMConfig.from_params(params))
        self.model = attach_adapter(model, adapter)
        self.model.eval()

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from relsafe.models.vlm import generate_vlm

        params = params or {}
        prompts = column_values(model_input, PROMPT_COLUMN)
        images = row_images(model_input, len(prompts))
        max_new = int(params.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        ctx = self.model.disable_adapter() if params.get("base", False) else nullcontext()
        with ctx:
            responses = generate_vlm(
                self.model,
                self.processor,
                prompts,
                images,
                max_new_tokens=max_new,
                progress=False,
            )
        return pd.DataFrame({RESPONSE_COLUMN: responses})
