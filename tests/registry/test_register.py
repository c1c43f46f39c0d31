"""Registration into a sqlite registry: round trips, tags, and nothing half-registered."""

from __future__ import annotations

import shutil
import socket

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from tests_support import bind_metrics

from relsafe.registry.aliases import ensure_reachable, load_registered
from relsafe.registry.errors import (
    AliasNotFound,
    CorruptArtifact,
    ModelNotFound,
    RegistrationFailed,
    RegistryUnreachable,
)
from relsafe.registry.register import register_model

TEXTS = pd.DataFrame({"text": ["a child drinking juice", "a dog on a bench"]})


def test_encoder_round_trip(sqlite_registry, tmp_path, encoder_adapter_dir, encoder_params):
    info = register_model(
        encoder_adapter_dir,
        encoder_params,
        "relsafe-encoder",
        tags={"git_commit": "abc"},
        metrics=bind_metrics({"unsafe_r5": 0.1}, encoder_adapter_dir),
    )
    assert info["version"] == "1" and info["alias"] == "challenger"
    client = MlflowClient()
    mv = client.get_model_version_by_alias("relsafe-encoder", "challenger")
    assert mv.tags["git_commit"] == "abc"
    assert client.get_run(mv.run_id).data.metrics["unsafe_r5"] == pytest.approx(0.1)

    model = load_registered("relsafe-encoder", "challenger")
    edited = model.predict(TEXTS)
    base = model.predict(TEXTS, params={"base": True})
    assert edited.shape == base.shape == (2, 32)
    assert np.abs(edited - base).max() > 1e-3, "adapter had no effect"

    from relsafe.models import EncoderConfig, load_encoder

    fresh = load_encoder(EncoderConfig.from_params(encoder_params)).encode(TEXTS["text"].tolist())
    np.testing.assert_allclose(base, fresh, atol=1e-5)

    stored = [p for p in (tmp_path / "mlruns").rglob("*") if p.is_file()]
    assert any(p.name == "adapter_model.safetensors" for p in stored)
    assert any(p.name == "model.safetensors" for p in stored), (
        "the tiny (non-package) base must be copied"
    )
    assert not [p for p in stored if p.suffix in (".pkl", ".pickle", ".bin", ".pt")], (
        "nothing may be pickled"
    )

    # Servable anywhere (issue 18 item 8): relsafe's code, requirements, example, schemas.
    logged = mlflow.models.get_model_info(info["logged_model_uri"])
    assert [c.name for c in logged.signature.inputs.inputs] == ["text"]
    assert logged.signature.outputs.inputs[0].shape == (-1, -1)
    assert logged.signature.params.to_dict()[0]["name"] == "base"
    assert logged.saved_input_example_info["type"] == "dataframe"
    code = [p for p in stored if "code/relsafe/" in p.as_posix()]
    assert any(p.as_posix().endswith("code/relsafe/registry/encoder_pyfunc.py") for p in code)
    assert not [p for p in code if "__pycache__" in p.parts]
    reqs = next(p for p in stored if p.name == "requirements.txt").read_text()
    assert "peft==" in reqs and "accelerate==" in reqs and "relsafe" not in reqs


def test_lm_round_trip(sqlite_registry, lm_adapter_dir, lm_params):
    info = register_model(lm_adapter_dir, lm_params, "relsafe-lm", smoke_test=False)
    assert info["family"] == "causal_lm"
    model = mlflow.pyfunc.load_model("models:/relsafe-lm@challenger")
    prompts = pd.DataFrame({"prompt": ["Say hello.", "How do I bake bread?"]})
    out = model.predict(prompts, params={"base": False, "max_new_tokens": 3})
    base = model.predict(prompts, params={"base": True, "max_new_tokens": 3})
    assert list(out.columns) == ["response"] and len(out) == 2 and len(base) == 2
    assert all(isinstance(r, str) for r in out["response"])


def test_corrupt_adapter_registers_nothing(
    sqlite_registry, encoder_adapter_dir, encoder_params, tmp_path
):
    broken = tmp_path / "broken"
    shutil.copytree(encoder_adapter_dir, broken)
    (broken / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CorruptArtifact, match="adapter_model.safetensors"):
        register_model(broken, encoder_params, "relsafe-encoder")
    assert MlflowClient().search_registered_models() == []


def test_failure_after_version_created_is_rolled_back(
    sqlite_registry, encoder_adapter_dir, encoder_params, monkeypatch
):
    register_model(encoder_adapter_dir, encoder_params, "relsafe-encoder", smoke_test=False)

    def boom(self, name, alias, version):
        raise RuntimeError("injected alias failure")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", boom)
    with pytest.raises(RegistrationFailed, match="injected alias failure"):
        register_model(encoder_adapter_dir, encoder_params, "relsafe-encoder", smoke_test=False)
    monkeypatch.undo()
    client = MlflowClient()
    assert [str(v.version) for v in client.search_model_versions("name='relsafe-encoder'")] == ["1"]
    assert str(client.get_model_version_by_alias("relsafe-encoder", "challenger").version) == "1"


def test_model_that_cannot_load_is_not_registered(
    sqlite_registry, encoder_adapter_dir, encoder_params
):
    bad = {**encoder_params, "kind": "no_such_kind"}
    with pytest.raises(RegistrationFailed, match="nothing was registered"):
        register_model(encoder_adapter_dir, bad, "relsafe-encoder")
    assert MlflowClient().search_registered_models() == []


def test_tampered_artifact_is_refused_on_load(
    sqlite_registry, tmp_path, encoder_adapter_dir, encoder_params
):
    register_model(encoder_adapter_dir, encoder_params, "relsafe-encoder", smoke_test=False)
    stored = next((tmp_path / "mlruns").rglob("adapter/adapter_model.safetensors"))
    stored.write_bytes(stored.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CorruptArtifact, match="adapter_model.safetensors: sha256 differs"):
        mlflow.pyfunc.load_model("models:/relsafe-encoder@challenger")


def test_unknown_model_and_alias(sqlite_registry):
    with pytest.raises(ModelNotFound, match="no registered model 'relsafe-encoder'"):
        load_registered("relsafe-encoder", "champion")
    MlflowClient().create_registered_model("relsafe-encoder")
    with pytest.raises(AliasNotFound, match="has no alias 'champion'"):
        load_registered("relsafe-encoder", "champion")


def test_unreachable_registry_is_named(monkeypatch, encoder_adapter_dir, encoder_params):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        with pytest.raises(RegistryUnreachable, match=f"127.0.0.1:{port}"):
            ensure_reachable(timeout_s=2)
        with pytest.raises(RegistryUnreachable):
            register_model(encoder_adapter_dir, encoder_params, "relsafe-encoder")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_challenger_only_moves_forward(
    sqlite_registry, encoder_adapter_dir, encoder_params, monkeypatch
):
    """A slower concurrent registration must not pull ``challenger`` back to an older version."""
    import relsafe.registry.register as reg

    monkeypatch.setattr(reg, "alias_version", lambda client, name, alias: "99")
    info = register_model(encoder_adapter_dir, encoder_params, "relsafe-encoder", smoke_test=False)
    assert info["version"] == "1" and info["alias"] is None
    assert MlflowClient().get_model_version("relsafe-encoder", "1").status == "READY"
