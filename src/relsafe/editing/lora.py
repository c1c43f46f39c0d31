"""LoRA configuration per model family (peft)."""

from __future__ import annotations

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

#: Attention projections to adapt, by HF ``model_type``, when params don't say.
DEFAULT_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "mpnet": ["q", "v"],
    "clip_text_model": ["q_proj", "v_proj"],
    "clip": ["q_proj", "v_proj"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
}


def target_modules(model: nn.Module, configured: list[str] | None) -> list[str]:
    if configured:
        return list(configured)
    model_type = getattr(model.config, "model_type", "")
    if model_type not in DEFAULT_TARGETS:
        raise ValueError(
            f"no default LoRA target modules for model_type {model_type!r}; "
            "set train_edit.lora.target_modules in conf/base/parameters_train_edit.yml"
        )
    return DEFAULT_TARGETS[model_type]


def add_lora(model: nn.Module, lora: dict) -> PeftModel:
    """Wrap ``model`` with a LoRA adapter built from the ``lora`` params block."""
    config = LoraConfig(
        r=int(lora.get("r", 8)),
        lora_alpha=int(lora.get("alpha", 16)),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=target_modules(model, lora.get("target_modules")),
        bias="none",
    )
    return get_peft_model(model, config)


def trainable_share(model: nn.Module) -> float:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable / max(total, 1)
