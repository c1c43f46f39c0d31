"""MLflow pyfunc for ``relsafe-lm``: base causal LM + LoRA adapter -> greedy chat responses."""

from __future__ import annotations

from contextlib import nullcontext

import mlflow.pyfunc
import pandas as pd

from relsafe.registry.encoder_pyfunc import column_values

PROMPT_COLUMN = "prompt"
RESPONSE_COLUMN = "response"
DEFAULT_MAX_NEW_TOKENS = 64


class LMPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(pd.DataFrame({"prompt": [...]}), params={"base": False, "max_new_tokens": 64})``
    -> ``pd.DataFrame({"response": [...]})``, greedy with the model's chat template.

    One model copy is loaded; ``base=True`` generates with the adapter disabled.
    """

    def load_context(self, context) -> None:
        from relsafe.editing.attach import attach_adapter
        from relsafe.models.causal_lm import CausalLMConfig, load_causal_lm
        from relsafe.registry.pyfunc_common import checked_load_params

        params, adapter = checked_load_params(context.artifacts)
        model, self.tokenizer = load_causal_lm(CausalLMConfig.from_params(params))
        self.model = attach_adapter(model, adapter)
        self.model.eval()

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from relsafe.models.causal_lm import generate_responses

        params = params or {}
        prompts = column_values(model_input, PROMPT_COLUMN)
        max_new = int(params.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        ctx = self.model.disable_adapter() if params.get("base", False) else nullcontext()
        with ctx:
            responses = generate_responses(
                self.model, self.tokenizer, prompts, max_new_tokens=max_new, progress=False
            )
        return pd.DataFrame({RESPONSE_COLUMN: responses})
