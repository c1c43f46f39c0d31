"""Registry fixtures: a throwaway sqlite registry per test, tiny adapters built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def empty_registry_db(tmp_path_factory) -> Path:
    """An empty, migrated MLflow sqlite store, made once (migrations take seconds)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("registry_template") / "mlflow.db"
    cwd = os.getcwd()
    os.chdir(db.parent)  # the Default experiment's artifact root is ./mlruns at creation
    try:
        MlflowClient(
            tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}"
        ).search_experiments()
    finally:
        os.chdir(cwd)
    return db


@pytest.fixture
def sqlite_registry(tmp_path, monkeypatch, empty_registry_db) -> str:
    """Point MLflow at a fresh ``<tmp>/mlflow.db``; artifacts land in ``<tmp>/mlruns`` (cwd)."""
    import shutil
    import sqlite3

    import mlflow

    monkeypatch.chdir(tmp_path)
    shutil.copy(empty_registry_db, tmp_path / "mlflow.db")
    with sqlite3.connect(tmp_path / "mlflow.db") as con:  # artifacts of this test go under tmp_path
        con.execute(
            "UPDATE experiments SET artifact_location = ?", ((tmp_path / "mlruns" / "0").as_uri(),)
        )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    if mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def _random_lora(model, lora: dict, seed: int):
    """Wrap with LoRA and give B non-zero weights so the edit changes outputs."""
    import torch

    from relsafe.editing import add_lora

    peft_model = add_lora(model, lora)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return peft_model


@pytest.fixture(scope="session")
def encoder_params(tiny_bert_dir) -> dict:
    return {
        "family": "encoder",
        "kind": "mean_pool",
        "name_or_path": str(tiny_bert_dir),
        "tokenizer": None,
        "max_length": 32,
        "normalize": True,
    }


@pytest.fixture(scope="session")
def encoder_adapter_dir(tmp_path_factory, encoder_params) -> Path:
    from relsafe.editing import AdapterBundle
    from relsafe.models import EncoderConfig, load_encoder

    enc = load_encoder(EncoderConfig.from_params(encoder_params))
    model = _random_lora(enc.model, {"r": 4, "alpha": 8}, seed=1)
    out = tmp_path_factory.mktemp("enc_adapter") / "adapter"
    AdapterBundle.from_peft(
        model,
        {"kind": "edit", "family": "encoder", "policy_sha256": "p" * 64, "params": {"steps": 1}},
    ).save(out)
    return out


@pytest.fixture(scope="session")
def lm_params(tiny_llama_dir) -> dict:
    return {
        "family": "causal_lm",
        "name_or_path": str(tiny_llama_dir),
        "gguf_file": None,
        "max_length": 64,
        "dtype": "float32",
    }


@pytest.fixture(scope="session")
def lm_adapter_dir(tmp_path_factory, lm_params) -> Path:
    from relsafe.editing import AdapterBundle
    from relsafe.models.causal_lm import CausalLMConfig, load_causal_lm

    model, _ = load_causal_lm(CausalLMConfig.from_params(lm_params))
    model = _random_lora(model, {"r": 4, "alpha": 8}, seed=2)
    out = tmp_path_factory.mktemp("lm_adapter") / "adapter"
    AdapterBundle.from_peft(
        model, {"kind": "edit", "family": "causal_lm", "policy_sha256": "q" * 64}
    ).save(out)
    return out
