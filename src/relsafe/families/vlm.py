"""VLM family: any HF image-text-to-text model (``AutoModelForImageTextToText``).

Textual unlearning of the VLM's language model: LoRA goes only on the language model's
modules (the vision tower and the projector stay frozen), trained on the LM sets through
the VLM's own chat template with no image, with the causal-LM family's terms (under
``train_edit.vlm``). Evaluated with the LM metrics plus image-borne attacks per modality
(:mod:`relsafe.evaluation.vlm_eval`); served as ``relsafe-vlm`` (prompt + optional image).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from relsafe.families.base import PyfuncSpec
from relsafe.families.causal_lm import CausalLMFamily

#: An 8x8 grey PNG: the registered input example (and smoke test) sends an image.
EXAMPLE_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFElEQVR4nGNsaGhgwAaYsIoOWgkAMBcBkGHHl6YAAAAASUVORK5CYII="
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


class VLMFamily(CausalLMFamily):
    name = "vlm"
    terms_key = "vlm"
    registry_name_key = "vlm_model_name"
    uses_lm_sets = True
    default_batch_size = 4
    pyfunc = PyfuncSpec(
        model_code="vlm_model.py",
        input_column="prompt",
        examples=("Describe this image.",),
        output_example=pd.DataFrame({"response": ["A grey square."]}),
        params={"base": False, "max_new_tokens": 64},
        requirements=("pillow",),
        extra_inputs={"image": (EXAMPLE_PNG,)},
        optional_inputs=("image",),
    )

    def load_base(self, model_params: Mapping[str, Any], device: str = "cpu"):
        """``(model, processor)``."""
        from relsafe.models.vlm import VLMConfig, load_vlm

        return load_vlm(VLMConfig.from_params(dict(model_params)), device=device)

    def model_and_tokenizer(self, base) -> tuple[Any, Any]:
        model, processor = base
        return model, processor.tokenizer

    def lora_config_block(self, model, lora: Mapping[str, Any]) -> dict[str, Any]:
        """``train_edit.lora`` narrowed to the language model: ``target_modules`` becomes the
        full names of the matching linear layers inside it (``layers`` picks among its
        decoder layers), so no vision-tower or projector module gets LoRA even when it
        shares a name (``q_proj``) with the language model's."""
        from torch import nn

        from relsafe.editing.lora import DEFAULT_TARGETS, layer_indices
        from relsafe.models.vlm import language_model_prefix, text_config

        prefix = language_model_prefix(model)
        lm = model.get_submodule(prefix)
        suffixes = lora.get("target_modules")
        if not suffixes:
            mtype = str(getattr(text_config(model), "model_type", ""))
            if mtype not in DEFAULT_TARGETS:
                raise ValueError(
                    f"no default LoRA target modules for the language model type {mtype!r}; "
                    "set train_edit.lora.target_modules in conf/vlm/parameters_train_edit.yml"
                )
            suffixes = DEFAULT_TARGETS[mtype]
        if isinstance(suffixes, str):
            suffixes = [suffixes]
        layers = layer_indices(lm, lora.get("layers"))
        names = []
        for name, module in lm.named_modules():
            if not isinstance(module, nn.Linear):
                continue
            if not any(name == s or name.endswith("." + s) for s in suffixes):
                continue
            if layers is not None:
                found = _LAYER.search(name)
                if found is None or int(found.group(1)) not in layers:
                    continue
            names.append(f"{prefix}.{name}")
        if not names:
            raise ValueError(
                f"train_edit.lora.target_modules {list(suffixes)}: no linear layer of the "
                f"language model ({prefix}) matches"
            )
        return {**dict(lora), "target_modules": names, "layers": None}

    def generate(self, base, prompts, max_new_tokens, batch_size, progress=True):
        from relsafe.models.vlm import generate_vlm

        model, processor = base
        return generate_vlm(
            model,
            processor,
            prompts,
            None,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            progress=progress,
        )

    def evaluate(self, model_params, adapters, inputs, params):
        from relsafe.evaluation.suite import evaluate_lm
        from relsafe.evaluation.vlm_eval import VLMEvalConfig, modality_scorer

        cfg = VLMEvalConfig.from_params(params.get("vlm"))
        scorer = modality_scorer(
            cfg, self.lm_rows(inputs), inputs.get("policy_data"), params.get("image_folder")
        )
        return evaluate_lm(
            model_params,
            adapters,
            self.lm_rows(inputs),
            inputs.get("plain_text"),
            params,
            family=self,
            extra_modalities=scorer,
            answer_cache=inputs.get("answer_cache"),
        )

    def scored_hash(self, inputs):
        import hashlib

        from relsafe.evaluation.vlm_eval import image_folder_digest

        return hashlib.sha256(
            (super().scored_hash(inputs) + ":" + image_folder_digest(inputs)).encode()
        ).hexdigest()


FAMILY = VLMFamily()

__all__ = ["FAMILY", "VLMFamily"]
