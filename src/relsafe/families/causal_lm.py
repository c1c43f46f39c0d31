"""Causal-LM family: any HF causal LM (SmolLM2 from a GGUF file by default).

Trains on the LM sets' train split (``lm_forget_set`` / ``lm_retain_set``) with the terms of
:mod:`relsafe.editing.lm_edit`; evaluated by attack success and refusals
(:func:`relsafe.evaluation.suite.evaluate_lm`); served as ``relsafe-lm``. The VLM family
(:mod:`relsafe.families.vlm`) reuses all of it on a VLM's language model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pandas as pd

from relsafe.families.base import Family, PyfuncSpec


class CausalLMFamily(Family):
    name = "causal_lm"
    terms_key = "causal_lm"
    registry_name_key = "lm_model_name"
    uses_lm_sets = True
    default_batch_size = 4
    pyfunc = PyfuncSpec(
        model_code="lm_model.py",
        input_column="prompt",
        examples=("Say hello.",),
        output_example=pd.DataFrame({"response": ["Hello!"]}),
        params={"base": False, "max_new_tokens": 64},
        requirements=("gguf",),
    )

    # --- load / generate ------------------------------------------------------------------
    def load_base(self, model_params: Mapping[str, Any], device: str = "cpu"):
        """``(model, tokenizer)``."""
        from relsafe.models.causal_lm import CausalLMConfig, load_causal_lm

        return load_causal_lm(CausalLMConfig.from_params(dict(model_params)), device=device)

    def model_and_tokenizer(self, base) -> tuple[Any, Any]:
        """The generating model and the tokenizer (with the chat template) of a loaded base."""
        return base[0], base[1]

    def generate(self, base, prompts, max_new_tokens, batch_size, progress=True):
        from relsafe.models.causal_lm import generate_responses

        model, tok = self.model_and_tokenizer(base)
        return generate_responses(
            model,
            tok,
            prompts,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            progress=progress,
        )

    # --- train ----------------------------------------------------------------------------
    def edit_rows(self, kind, policy, baseline, sets):
        lm_forget, lm_retain = sets.get("lm_forget"), sets.get("lm_retain")
        if lm_forget is None or lm_retain is None:
            raise ValueError(
                f"model.family is {self.name} but lm_forget_set / lm_retain_set were not given "
                f"(run build_sets with the {self.name} conf env)"
            )
        if kind == "baseline":
            from relsafe.editing.erasure import erasure_lm_sets

            lm_forget, lm_retain = erasure_lm_sets(
                policy,
                lm_forget,
                lm_retain,
                baseline.get("concept", "auto"),
                refusal=baseline.get("lm_refusal"),
            )
        return lm_forget, lm_retain

    def training_rows(self, forget, retain, block, seed):
        from relsafe.editing.lm_edit import augment_prompts, train_rows
        from relsafe.editing.lm_restyle import restyle_prompts

        forget, retain = train_rows(forget, "lm_forget_set"), train_rows(retain, "lm_retain_set")
        if forget.empty:
            raise ValueError("lm_forget_set has no split == 'train' rows: nothing to unlearn")
        n_forget, n_retain = len(forget), len(retain)
        forget = augment_prompts(forget, block.get("augment"), seed, "forget", self.terms_key)
        retain = augment_prompts(retain, block.get("augment"), seed, "retain", self.terms_key)
        forget = restyle_prompts(forget, block.get("restyle"), seed, "forget", self.terms_key)
        retain = restyle_prompts(retain, block.get("restyle"), seed, "retain", self.terms_key)
        return (
            forget,
            retain,
            {
                "n_forget_train": n_forget,
                "n_retain_train": n_retain,
                "n_augmented": len(forget) + len(retain) - n_forget - n_retain,
            },
        )

    def parse_terms(self, block):
        from relsafe.editing.lm_edit import parse_lm_terms

        return parse_lm_terms(block, where=f"train_edit.{self.terms_key}.terms")

    def _pad_id(self, tok) -> int:
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def build_pools(self, base, forget, retain, specs, block, seed):
        from relsafe.editing.lm_edit import build_lm_pools

        _, tok = self.model_and_tokenizer(base)
        return build_lm_pools(tok, forget, retain, specs, block)

    def lora_config_block(self, model, lora: Mapping[str, Any]) -> dict[str, Any]:
        """The ``train_edit.lora`` block as applied to ``model`` (VLMs narrow the targets)."""
        return dict(lora)

    def attach_lora(self, base, lora):
        from relsafe.editing.lora import add_lora

        model, _ = self.model_and_tokenizer(base)
        peft_model = add_lora(model, self.lora_config_block(model, lora))
        return peft_model, peft_model

    def before_training(self, base, train_module, pools, specs, block, cfg):
        import torch

        from relsafe.editing.device import resolve_device
        from relsafe.editing.lm_edit import prepare_hidden

        train_module.to(torch.device(resolve_device(cfg.device)))
        prepare_hidden(
            train_module, pools, specs, block, self._pad_id(self.model_and_tokenizer(base)[1])
        )

    def data_hash(self, forget, retain):
        from relsafe.editing.manifest import frame_hash

        cols = [
            c
            for c in ("prompt", "completion", "refusal", "source", "pair_text")
            if c in forget.columns
        ]
        return frame_hash(forget, columns=cols) + ":" + frame_hash(retain, columns=cols)

    def compute_terms(self, base, pools, specs, params, block):
        from relsafe.editing.lm_edit import make_lm_compute_terms

        return make_lm_compute_terms(
            pools,
            specs,
            int(params.get("batch_size", self.default_batch_size)),
            self._pad_id(self.model_and_tokenizer(base)[1]),
            ref_top_k=block.get("ref_top_k"),
        )

    def trained_adapter(self, result, train_module):
        result.model.eval()
        return result.model

    def pool_size(self, pool) -> int:
        return len(pool.prompt_ids)

    # --- evaluate ---------------------------------------------------------------------------
    def lm_rows(self, inputs: Mapping[str, Any]) -> pd.DataFrame:
        """The LM sets (training sets' held-out split and ``lm_eval_set``) in one frame."""
        frames = [inputs.get(k) for k in ("lm_forget_set", "lm_retain_set", "lm_eval_set")]
        return pd.concat([f for f in frames if f is not None], ignore_index=True)

    def scored_hash(self, inputs):
        from relsafe.editing.manifest import frame_hash

        lm_eval = inputs.get("lm_eval_set")
        scored = (
            frame_hash(inputs["lm_forget_set"], inputs["lm_retain_set"])
            + (":" + frame_hash(lm_eval) if lm_eval is not None else "")
            + ":"
            + hashlib.sha256(str(inputs.get("plain_text")).encode()).hexdigest()
        )
        return hashlib.sha256(scored.encode()).hexdigest()

    def evaluate(self, model_params, adapters, inputs, params):
        from relsafe.evaluation.suite import evaluate_lm

        return evaluate_lm(
            model_params,
            adapters,
            self.lm_rows(inputs),
            inputs.get("plain_text"),
            params,
            answer_cache=inputs.get("answer_cache"),
        )


FAMILY = CausalLMFamily()

__all__ = ["FAMILY", "CausalLMFamily"]
