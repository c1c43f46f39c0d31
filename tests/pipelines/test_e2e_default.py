"""End-to-end: the default chain in a temporary copy of the project, on tiny models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests_support import PROJECT_ROOT, kedro_env

pytestmark = pytest.mark.slow


def make_project_copy(dest: Path, model: dict, caption_limit: int = 300) -> Path:
    """Copy conf/, bundled raw data and pyproject into ``dest`` with tiny-run overrides."""
    for name in ("conf", "data"):
        shutil.copytree(PROJECT_ROOT / name, dest / name, ignore=shutil.ignore_patterns("*.parquet", "mlruns", "local"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    local = dest / "conf" / "local"
    local.mkdir(exist_ok=True)
    overrides = {
        "parameters_extract_tuples.yml": {"extract_tuples": {"limit": caption_limit}},
        "parameters_train_edit.yml": {"model": model, "train_edit": {"steps": 6, "batch_size": 8}},
    }
    for name, data in overrides.items():
        (local / name).write_text(yaml.safe_dump(data))
    return dest


def run_kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).with_name("kedro")), "run", *args]
    proc = subprocess.run(cmd, cwd=project, env=kedro_env(), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"kedro run {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.mark.parametrize("family", ["tiny_bert", "tiny_clip"])
def test_default_pipeline_end_to_end(family, tmp_path, request):
    model_dir = request.getfixturevalue(f"{family}_dir")
    model = {
        "family": "encoder",
        "kind": "clip_text" if family == "tiny_clip" else "mean_pool",
        "name_or_path": str(model_dir),
        "tokenizer": None,
        "max_length": 32,
        "normalize": True,
    }
    project = make_project_copy(tmp_path / "proj", model)
    run_kedro(project)

    tuples = pd.read_parquet(project / "data/03_primary/caption_tuples.parquet")
    assert tuples["n_tuples"].sum() > 100, "extraction found too few tuples"
    assert len(tuples) == 300 + len(pd.read_csv(project / "data/01_raw/safety_captions.csv"))

    sets = {n: pd.read_parquet(project / f"data/05_model_input/{n}_set.parquet") for n in ("forget", "retain", "eval")}
    assert all(len(df) > 0 for df in sets.values())
    texts = {n: set(df["text"]) for n, df in sets.items()}
    assert not texts["forget"] & texts["retain"]
    assert not texts["eval"] & (texts["forget"] | texts["retain"])

    from safetensors.torch import load_file

    weights = load_file(project / "data/06_models/edit_adapter/adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(float(v.abs().sum()) > 0 for v in lora_b), "LoRA B weights never moved"

    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    assert {"unsafe_r5", "benign_r1"} <= set(metrics)

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    version = mlflow.MlflowClient().get_model_version_by_alias("relsafe-encoder", "challenger")
    assert str(version.version) == "1"
    cwd = os.getcwd()
    os.chdir(project)  # artifact paths in the sqlite store are relative to the project root
    try:
        pyfunc = mlflow.pyfunc.load_model("models:/relsafe-encoder@challenger")
        emb = pyfunc.predict(pd.DataFrame({"text": ["a child drinking juice", "a dog"]}))
    finally:
        os.chdir(cwd)
    assert emb.shape[0] == 2 and emb.shape[1] in (16, 32)
