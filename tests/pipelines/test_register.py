"""The register node: family dispatch, provenance tags, the shipped parameters."""

from __future__ import annotations

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient
from tests_support import PROJECT_ROOT

from relsafe.editing import AdapterBundle, add_lora
from relsafe.pipelines.register.nodes import register_adapter
from relsafe.pipelines.register.pipeline import create_pipeline
from relsafe.registry.binding import make_binding
from relsafe.registry.errors import RegistrationFailed

METRICS = {
    "unsafe_r5": 0.2,
    "unsafe_r1": 0.1,
    "benign_r1": 0.9,
    "benign_r1_ratio": 0.97,
    "benign_drift": 0.05,
    "n_eval": 40,
}


@pytest.fixture
def registry(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def bundle(model, family: str, kind: str = "edit", fill: float = 0.01) -> AdapterBundle:
    peft_model = add_lora(model, {"r": 2, "alpha": 4})
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.fill_(fill)
    return AdapterBundle.from_peft(
        peft_model,
        {"kind": kind, "family": family, "policy_sha256": "d" * 64, "params": {"steps": 2}},
    )


def bound(metrics: dict, **adapters: AdapterBundle) -> dict:
    """``metrics`` with the binding evaluate_edit writes for ``adapters`` (edit=..., baseline=...)."""
    binding = make_binding(adapters, "e" * 64, "d" * 64, "encoder")
    return {**metrics, "binding": binding}


def shipped_register_params() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_register.yml").read_text())[
        "register"
    ]


def test_encoder_and_lm_dispatch(registry, tiny_bert_dir, tiny_llama_dir):
    from relsafe.models import EncoderConfig, load_encoder
    from relsafe.models.causal_lm import CausalLMConfig, load_causal_lm

    params = shipped_register_params()
    enc_model = {
        "family": "encoder",
        "kind": "mean_pool",
        "name_or_path": str(tiny_bert_dir),
        "max_length": 16,
    }
    adapter = bundle(load_encoder(EncoderConfig.from_params(enc_model)).model, "encoder")
    info = register_adapter(adapter, bound(METRICS, edit=adapter), enc_model, params)
    assert (info["model_name"], info["version"], info["alias"]) == (
        "relsafe-encoder",
        "1",
        "challenger",
    )
    tags = MlflowClient().get_model_version("relsafe-encoder", "1").tags
    assert tags["policy_sha256"] == "d" * 64
    assert tags["dvc_data_hash"] and tags["git_commit"]
    assert float(tags["metric.unsafe_r5"]) == pytest.approx(0.2)
    assert '"steps": 2' in tags["params"]

    lm_model = {"family": "causal_lm", "name_or_path": str(tiny_llama_dir), "gguf_file": None}
    lm_adapter = bundle(load_causal_lm(CausalLMConfig.from_params(lm_model))[0], "causal_lm")
    lm_info = register_adapter(
        lm_adapter,
        bound({"asr_heldout": 0.1}, edit=lm_adapter),
        lm_model,
        {**params, "smoke_test": False},
    )
    assert lm_info["model_name"] == "relsafe-lm" and lm_info["family"] == "causal_lm"
    assert MlflowClient().get_model_version("relsafe-lm", "1").tags["metric.missing"]


def test_unknown_family_is_an_error():
    with pytest.raises(ValueError, match="model.family 'vision'"):
        register_adapter(
            AdapterBundle({}, {}, {}),
            {},
            {"family": "vision", "name_or_path": "x"},
            shipped_register_params(),
        )


def test_pipeline_wiring():
    (node,) = create_pipeline().nodes
    assert node.inputs == ["edit_adapter", "metrics", "params:model", "params:register"]
    assert node.outputs == ["registered_model"]


def test_baseline_pointed_at_as_the_edit_is_refused(registry, tiny_bert_dir):
    """Issue 18 item 1: `edit_adapter` pointed at the baseline folder registered the baseline
    with the edit's metrics. Now its hash is not the edit's, and it is a baseline."""
    from relsafe.models import EncoderConfig, load_encoder

    enc_model = {
        "family": "encoder",
        "kind": "mean_pool",
        "name_or_path": str(tiny_bert_dir),
        "max_length": 16,
    }
    enc = load_encoder(EncoderConfig.from_params(enc_model)).model
    edit = bundle(enc, "encoder")
    baseline = bundle(
        load_encoder(EncoderConfig.from_params(enc_model)).model, "encoder", "baseline", 0.02
    )
    metrics = bound({**METRICS, "baseline_benign_drift": 0.099}, edit=edit, baseline=baseline)
    params = {**shipped_register_params(), "smoke_test": False}
    with pytest.raises(RegistrationFailed, match="concept-erasure baseline"):
        register_adapter(baseline, metrics, enc_model, params)
    foreign = bundle(load_encoder(EncoderConfig.from_params(enc_model)).model, "encoder", fill=0.03)
    with pytest.raises(RegistrationFailed, match="not on this adapter"):
        register_adapter(foreign, metrics, enc_model, params)
    assert MlflowClient().search_registered_models() == []
