"""LoRA configuration per model family (peft)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

#: Modules to adapt, by HF ``model_type``, when ``train_edit.lora.target_modules`` is null.
#: Other encoders: attention query/value plus the attention output; causal LMs: every
#: attention projection. BERT-like encoders: attention and the feed-forward block, whose weights hold the concept
#: features a relational edit has to reach in unseen wordings (docs/editing.md, "Figures").
_BERT_LIKE = [
    "query",
    "key",
    "value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
]
DEFAULT_TARGETS: dict[str, list[str]] = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "distilbert": ["q_lin", "v_lin", "out_lin"],
    "mpnet": ["q", "v", "o"],
    "clip_text_model": ["q_proj", "v_proj", "out_proj"],
    "clip": ["q_proj", "v_proj", "out_proj"],
    "siglip_text_model": ["q_proj", "v_proj", "out_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma3_text": ["q_proj", "k_proj", "v_proj", "o_proj"],  # Gemma 3 VLMs' language model
    "qwen2_vl_text": ["q_proj", "k_proj", "v_proj", "o_proj"],  # Qwen2-VL's language model
    "qwen2_5_vl_text": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
    "gpt2": ["c_attn", "c_proj"],
    "gpt_neox": ["query_key_value", "dense"],
}


def model_type(model: nn.Module) -> str:
    return str(getattr(getattr(model, "config", None), "model_type", ""))


def target_modules(model: nn.Module, configured: list[str] | None) -> list[str]:
    if configured:
        return list(configured)
    mtype = model_type(model)
    if mtype not in DEFAULT_TARGETS:
        raise ValueError(
            f"no default LoRA target modules for model_type {mtype!r}; "
            "set train_edit.lora.target_modules in conf/base/parameters_train_edit.yml"
        )
    return DEFAULT_TARGETS[mtype]


def num_layers(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        if isinstance(getattr(config, key, None), int):
            return int(getattr(config, key))
    return None


def layer_indices(model: nn.Module, layers: Any) -> list[int] | None:
    """``train_edit.lora.layers``: null (all), a list of indices, or a fraction in (0, 1]
    meaning the top share of layers (0.6 on a 30-layer model: layers 12..29).

    Adapting only upper layers makes training cheaper: backpropagation stops at the lowest
    adapted layer.
    """
    if layers is None or layers == []:
        return None
    n = num_layers(model)
    if isinstance(layers, (int, float)) and not isinstance(layers, bool):
        if not 0 < float(layers) <= 1:
            raise ValueError(
                f"train_edit.lora.layers: {layers}; expected a fraction in (0, 1] or a list of layer indices"
            )
        if n is None:
            raise ValueError(
                "train_edit.lora.layers: a fraction needs config.num_hidden_layers, which this model lacks"
            )
        keep = max(1, round(float(layers) * n))
        return list(range(n - keep, n))
    idx = sorted({int(i) for i in layers})
    if n is not None and any(i < 0 or i >= n for i in idx):
        raise ValueError(f"train_edit.lora.layers: {idx} out of range for a model with {n} layers")
    return idx


def lora_config(model: nn.Module, lora: Mapping[str, Any]) -> LoraConfig:
    """A peft ``LoraConfig`` from the ``train_edit.lora`` block (r, alpha, dropout, targets)."""
    return LoraConfig(
        r=int(lora.get("r", 8)),
        lora_alpha=int(lora.get("alpha", 16)),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=target_modules(model, lora.get("target_modules")),
        layers_to_transform=layer_indices(model, lora.get("layers")),
        bias="none",
    )


def add_lora(model: nn.Module, lora: Mapping[str, Any]) -> PeftModel:
    """Wrap ``model`` with a LoRA adapter built from the ``lora`` params block."""
    return get_peft_model(model, lora_config(model, lora))


def trainable_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def trainable_share(model: nn.Module) -> float:
    total = sum(p.numel() for p in model.parameters())
    return trainable_count(model) / max(total, 1)
