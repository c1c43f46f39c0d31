"""Attach a saved adapter to a freshly loaded base model."""

from __future__ import annotations

import tempfile
from pathlib import Path

from peft import PeftModel
from torch import nn

from relsafe.editing.adapter_io import AdapterBundle


def attach_adapter(model: nn.Module, adapter: AdapterBundle | str | Path) -> PeftModel:
    """Wrap ``model`` with the adapter (a bundle or a folder saved by :class:`AdapterBundle`)."""
    if isinstance(adapter, AdapterBundle):
        with tempfile.TemporaryDirectory() as tmp:
            adapter.save(Path(tmp) / "adapter")
            return attach_adapter(model, Path(tmp) / "adapter")
    peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    peft_model.eval()
    return peft_model
