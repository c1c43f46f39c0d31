"""LoRA edits: per-family configs, loss registry, training loops, adapter IO."""

from relsafe.editing.adapter_io import AdapterBundle
from relsafe.editing.encoder_edit import train_encoder_edit
from relsafe.editing.lora import add_lora, trainable_share

__all__ = ["AdapterBundle", "add_lora", "train_encoder_edit", "trainable_share"]
