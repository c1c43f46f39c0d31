"""Pick the training device and precision: CPU (fp32) or CUDA (bf16 where supported)."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "no", "bf16", "fp16")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without one is an error."""
    if device not in DEVICES:
        raise ValueError(f"train_edit.device: {device!r}; expected one of {DEVICES}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "train_edit.device is 'cuda' but no CUDA device is visible (set it to 'auto' or 'cpu')"
        )
    return device


def resolve_precision(device: str, precision: str = "auto") -> str:
    """Mixed precision for accelerate: ``bf16`` on CUDA GPUs that support it, ``no`` on CPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"train_edit.mixed_precision: {precision!r}; expected one of {PRECISIONS}")
    if precision != "auto":
        if device == "cpu" and precision != "no":
            logger.warning(
                "train_edit.mixed_precision=%s ignored on CPU (fp32 keeps CPU runs deterministic)",
                precision,
            )
            return "no"
        return precision
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"
