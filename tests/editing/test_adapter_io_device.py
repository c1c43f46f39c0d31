"""Adapter folders (atomic save, load errors) and device / precision choice."""

from __future__ import annotations

import json

import pytest
import torch

from relsafe.editing import AdapterBundle
from relsafe.editing.device import (
    autocast,
    cpu_has_native_bf16,
    resolve_device,
    resolve_precision,
)


def _bundle() -> AdapterBundle:
    return AdapterBundle(
        {"a.lora_A.weight": torch.ones(2, 3)}, {"r": 2, "peft_type": "LORA"}, {"base_sha256": "abc"}
    )


def test_save_load_roundtrip_and_overwrite(tmp_path):
    target = tmp_path / "adapter"
    _bundle().save(target)
    assert {p.name for p in target.iterdir()} == {
        "adapter_model.safetensors",
        "adapter_config.json",
        "manifest.json",
    }
    again = _bundle()
    again.manifest["base_sha256"] = "def"
    again.save(target)  # replaces the folder atomically, leaves no temp folders behind
    loaded = AdapterBundle.load(target)
    assert loaded.manifest["base_sha256"] == "def" and torch.equal(
        loaded.state_dict["a.lora_A.weight"], torch.ones(2, 3)
    )
    assert json.loads((target / "adapter_config.json").read_text())["r"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]


def test_load_names_the_missing_file(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors"):
        AdapterBundle.load(tmp_path / "a")


def test_device_and_precision():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_precision("cpu", "auto") == "no"
    # bf16 on CPU only where it is native (else emulated and slower than fp32)
    assert resolve_precision("cpu", "bf16") == ("bf16" if cpu_has_native_bf16() else "no")
    assert resolve_precision("cpu", "fp16") == "no"
    with pytest.raises(ValueError, match="train_edit.device"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="mixed_precision"):
        resolve_precision("cpu", "fp8")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


def test_autocast_context_follows_the_resolved_precision():
    x = torch.ones(2, 2)
    with autocast("cpu", "no"):
        assert (x @ x).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert (x @ x).dtype == torch.bfloat16
