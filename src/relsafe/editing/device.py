"""Pick the training device and precision: CPU (fp32, or bf16 where the CPU has native bf16)
or CUDA (bf16 where supported)."""

from __future__ import annotations

import contextlib
import functools
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


def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bf16 matmuls natively here (AVX512-BF16 or AMX).

    Without those instructions bf16 is emulated and slower than fp32.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(device: str, precision: str = "auto") -> str:
    """Mixed precision for accelerate.

    ``auto``: ``bf16`` on CUDA GPUs that support it, fp32 (``no``) on CPU, where the default
    stays bit-for-bit comparable across machines. ``bf16`` on CPU is honoured where the CPU
    has native bf16 (about 1.7x faster steps on the LM family), else it falls back to fp32
    with a warning; ``fp16`` on CPU always does.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"train_edit.mixed_precision: {precision!r}; expected one of {PRECISIONS}")
    if precision == "auto":
        return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "no"
    if device == "cpu" and precision != "no":
        if precision == "bf16" and cpu_has_native_bf16():
            return "bf16"
        _warn_cpu_fallback(precision)
        return "no"
    return precision


@functools.cache
def _warn_cpu_fallback(precision: str) -> None:
    """Once per process: an LM edit resolves its precision twice (the NPO reference pass,
    then the training loop)."""
    logger.warning(
        "train_edit.mixed_precision=%s ignored: this CPU has no native %s (training in fp32)",
        precision,
        precision,
    )


def autocast(device: str | torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision (a no-op for ``no``)."""
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in dtypes:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtypes[precision])
