"""Offline loading of base models (encoders, CLIP text towers, causal LMs)."""

from relsafe.models.encoders import EncoderConfig, TextEncoder, load_encoder
from relsafe.models.sources import ModelSourceError, content_hash, resolve_model_dir, weights_files

__all__ = [
    "EncoderConfig",
    "ModelSourceError",
    "TextEncoder",
    "content_hash",
    "load_encoder",
    "resolve_model_dir",
    "weights_files",
]
