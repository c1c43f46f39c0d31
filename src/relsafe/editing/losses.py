"""Named, weighted loss terms. Add one with ``@register_loss("name")``; pick it in params."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

LossFn = Callable[..., torch.Tensor]
LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def deco(fn: LossFn) -> LossFn:
        LOSSES[name] = fn
        return fn

    return deco


def get_loss(name: str) -> LossFn:
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; registered: {sorted(LOSSES)}")
    return LOSSES[name]


@register_loss("encoder_forget")
def encoder_forget(edited: torch.Tensor, base: torch.Tensor, redirect: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Pull unsafe texts onto their safe redirect and away from their own base embedding."""
    to_redirect = 1 - F.cosine_similarity(edited, redirect, dim=-1)
    to_base = F.relu(F.cosine_similarity(edited, base, dim=-1) - margin)
    return (to_redirect + to_base).mean()


@register_loss("encoder_retain")
def encoder_retain(edited: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """Keep retain-set embeddings where the frozen base puts them."""
    return (1 - F.cosine_similarity(edited, base, dim=-1)).mean()
