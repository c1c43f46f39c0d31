"""LoRA edits: per-family configs, loss registry, the shared training loop, adapter IO."""

from relsafe.editing.adapter_io import AdapterBundle
from relsafe.editing.encoder_edit import train_encoder_edit
from relsafe.editing.lora import add_lora, trainable_count, trainable_share
from relsafe.editing.trainer import TrainerConfig, TrainResult, train_loop

__all__ = [
    "AdapterBundle",
    "TrainResult",
    "TrainerConfig",
    "add_lora",
    "train_encoder_edit",
    "train_loop",
    "trainable_count",
    "trainable_share",
]
