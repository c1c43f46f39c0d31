"""An adapter on disk: peft safetensors + adapter_config.json + manifest.json."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
MANIFEST = "manifest.json"


def content_hash(state_dict: dict[str, torch.Tensor], adapter_config: dict) -> str:
    """sha256 of what an adapter *does*: every tensor (name, dtype, shape, bytes) and the peft
    config. The same weights give the same hash in memory and on disk, whatever the file layout."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(adapter_config, sort_keys=True, default=str).encode())
    return h.hexdigest()


def adapter_dir_hash(directory: str | Path) -> str:
    """:func:`content_hash` of the adapter saved in ``directory``."""
    directory = Path(directory)
    return content_hash(
        load_file(str(directory / WEIGHTS)), json.loads((directory / CONFIG).read_text())
    )


@dataclass
class AdapterBundle:
    """LoRA weights, their peft config and a manifest (base model, hashes, params)."""

    state_dict: dict[str, torch.Tensor]
    adapter_config: dict
    manifest: dict = field(default_factory=dict)

    @classmethod
    def from_peft(cls, model: PeftModel, manifest: dict) -> AdapterBundle:
        state = {
            k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()
        }
        config = model.peft_config["default"].to_dict()
        config = json.loads(
            json.dumps(config, default=lambda o: sorted(o) if isinstance(o, set) else str(o))
        )
        return cls(state, config, manifest)

    def content_hash(self) -> str:
        """sha256 of the weights and peft config (see :func:`content_hash`)."""
        return content_hash(self.state_dict, self.adapter_config)

    def apply_to(self, model: PeftModel) -> None:
        """Load these weights into a peft model built with the same config."""
        result = set_peft_model_state_dict(model, self.state_dict)
        missing = [k for k in getattr(result, "unexpected_keys", []) if "lora" in k]
        if missing:
            raise ValueError(f"adapter weights do not fit the model: unexpected keys {missing[:5]}")

    def save(self, directory: str | Path) -> None:
        """Write atomically: a temp folder beside ``directory``, then a rename."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            save_file(self.state_dict, str(tmp / WEIGHTS))
            (tmp / CONFIG).write_text(json.dumps(self.adapter_config, indent=2, sort_keys=True))
            (tmp / MANIFEST).write_text(
                json.dumps(self.manifest, indent=2, sort_keys=True, default=str)
            )
            if directory.exists():
                old = directory.with_name(f".{directory.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(directory, old)
                os.replace(tmp, directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, directory: str | Path) -> AdapterBundle:
        directory = Path(directory)
        for name in (WEIGHTS, CONFIG):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"adapter folder {directory} has no {name}")
        manifest_path = directory / MANIFEST
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        return cls(
            load_file(str(directory / WEIGHTS)),
            json.loads((directory / CONFIG).read_text()),
            manifest,
        )
