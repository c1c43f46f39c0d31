"""Encoder family: an HF sentence encoder (mean pooling) or a CLIP text tower.

Trains on the text sets (``forget_set`` / ``retain_set``) with the terms of
:mod:`relsafe.editing.encoder_edit`; evaluated by paired retrieval
(:func:`relsafe.evaluation.suite.evaluate_encoder`); served as ``relsafe-encoder``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from relsafe.families.base import Family, PyfuncSpec


class EncoderFamily(Family):
    name = "encoder"
    terms_key = "encoder"
    registry_name_key = "encoder_model_name"
    uses_lm_sets = False
    default_batch_size = 16
    pyfunc = PyfuncSpec(
        model_code="encoder_model.py",
        input_column="text",
        examples=("a child drinking juice", "a man sitting on a bench"),
        output_example=None,  # [n, dim] float32
        params={"base": False},
    )

    def load_base(self, model_params: Mapping[str, Any], device: str = "cpu"):
        from relsafe.models.encoders import EncoderConfig, load_encoder

        return load_encoder(EncoderConfig.from_params(dict(model_params)))

    def edit_rows(self, kind, policy, baseline, sets):
        forget, retain = sets["forget"], sets["retain"]
        if kind == "baseline":
            from relsafe.editing.erasure import erasure_sets

            forget, retain = erasure_sets(policy, forget, retain, baseline.get("concept", "auto"))
        return forget, retain

    def training_rows(self, forget, retain, block, seed):
        from relsafe.editing.encoder_edit import check_columns

        check_columns(forget, ["text", "redirect"], "forget_set")
        check_columns(retain, ["text", "kind"], "retain_set")
        if forget.empty:
            raise ValueError(
                "forget_set is empty: nothing to unlearn (check the policy and the corpus)"
            )
        return forget, retain, {"n_forget": len(forget), "n_retain": len(retain)}

    def parse_terms(self, block):
        from relsafe.editing.encoder_edit import parse_terms

        return parse_terms(block)

    def build_pools(self, base, forget, retain, specs, block, seed):
        from relsafe.editing.encoder_edit import Augment, build_pools

        return build_pools(
            base, forget, retain, specs, Augment.from_params(block.get("augment")), seed
        )

    def attach_lora(self, base, lora):
        from relsafe.editing.lora import add_lora

        base.model = add_lora(base.model, lora)
        return base, base.model

    def data_hash(self, forget, retain):
        from relsafe.editing.manifest import frame_hash

        return (
            frame_hash(forget, columns=["text", "redirect"])
            + ":"
            + frame_hash(retain, columns=["text", "kind"])
        )

    def compute_terms(self, base, pools, specs, params, block):
        from relsafe.editing.encoder_edit import make_compute_terms

        return make_compute_terms(
            pools,
            specs,
            int(params.get("batch_size", self.default_batch_size)),
            int(block.get("bucket", 16)),
        )

    def trained_adapter(self, result, train_module):
        train_module.eval()
        return train_module.model

    def pool_size(self, pool) -> int:
        return len(pool.texts)

    def manifest_options(self, spec):
        return {k: v for k, v in spec.options.items() if k not in ("gallery", "gallery_group")}

    def scored_hash(self, inputs):
        from relsafe.editing.manifest import frame_hash

        comp = inputs.get("compositionality_captions")
        scored = frame_hash(inputs["eval_set"], inputs["retain_set"]) + (
            ":" + frame_hash(comp) if comp is not None else ""
        )
        return hashlib.sha256(scored.encode()).hexdigest()

    def evaluate(self, model_params, adapters, inputs, params):
        from relsafe.evaluation.suite import evaluate_encoder

        return evaluate_encoder(
            model_params,
            adapters,
            inputs["eval_set"],
            inputs["retain_set"],
            params,
            inputs.get("compositionality_captions"),
        )


FAMILY = EncoderFamily()

__all__ = ["FAMILY", "EncoderFamily"]
