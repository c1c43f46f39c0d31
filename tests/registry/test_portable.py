"""Portable stores (issue 18 item 3): a moved or cloned project with its ``mlflow.db`` keeps
working in place, reading and writing its own ``mlruns/``."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import mlflow
from tests_support import kedro_env

from relsafe.registry.portable import absolute_locations, make_portable

NAME = "relsafe-encoder"
GATES = {"absolute": {"unsafe_r5": {"max": 0.5}}, "no_regression": {}}

# Runs in the moved copy, in a fresh process, with the project's relative store URI.
IN_THE_COPY = """
import json, sys
import mlflow, pandas as pd
from relsafe.registry.promotion import promote

name, gates = sys.argv[1], json.loads(sys.argv[2])
text = pd.DataFrame({"text": ["a child drinking juice"]})
# plain MLflow first, before any relsafe call could rewrite the store
challenger = mlflow.pyfunc.load_model(f"models:/{name}@challenger").predict(text)
decision = promote(name, gates)
champion = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(text)
with mlflow.start_run() as run:
    mlflow.log_text("hello", "note.txt")
print(json.dumps({
    "decision": decision["decision"],
    "shape": list(champion.shape),
    "same": bool(abs(champion - challenger).max() < 1e-6),
    "artifact_uri": run.info.artifact_uri,
}))
"""


def _use(uri: str, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_moved_project_promotes_and_loads_from_its_own_store(
    tmp_path, monkeypatch, empty_registry_db, encoder_adapter_dir, encoder_params
):
    from relsafe.registry.register import register_model

    project = tmp_path / "project"
    project.mkdir()
    # As MLflow made it: experiment 0's artifact location is absolute (the template's folder).
    shutil.copy(empty_registry_db, project / "mlflow.db")
    monkeypatch.chdir(project)
    _use(f"sqlite:///{project / 'mlflow.db'}", monkeypatch)
    info = register_model(
        encoder_adapter_dir,
        encoder_params,
        NAME,
        tags={"metric.unsafe_r5": "0.1"},
        smoke_test=False,
    )
    assert info["alias"] == "challenger"
    assert absolute_locations(mlflow.get_tracking_uri()) == []
    assert (project / "mlruns").is_dir()

    # Clone the project elsewhere, then move the original away: nothing may point at it.
    clone = tmp_path / "elsewhere" / "clone"
    shutil.copytree(project, clone)
    gone = project.rename(tmp_path / "project.moved")
    before = _files(gone)
    monkeypatch.chdir(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", IN_THE_COPY, NAME, json.dumps(GATES)],
        cwd=clone,
        env={
            **kedro_env(),
            "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db",
            "MLFLOW_REGISTRY_URI": "sqlite:///mlflow.db",
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["decision"] == "promoted"
    assert out["shape"] == [1, 32] and out["same"]
    assert not Path(out["artifact_uri"]).is_absolute(), out["artifact_uri"]
    assert (clone / out["artifact_uri"] / "note.txt").read_text() == "hello"
    assert _files(gone) == before, "the moved-away original was written to"
    assert absolute_locations(f"sqlite:///{clone / 'mlflow.db'}") == []


def test_existing_absolute_store_is_relocated_into_the_copy(
    tmp_path, monkeypatch, empty_registry_db
):
    """A store written before this fix (absolute paths) works once copied: make_portable
    points every location at the copy's own ``mlruns/``; an external artifact root stays."""
    project = tmp_path / "old"
    project.mkdir()
    shutil.copy(empty_registry_db, project / "mlflow.db")
    monkeypatch.chdir(project)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    _use(uri, monkeypatch)
    external = (tmp_path / "shared_artifacts").as_uri()
    exp = mlflow.create_experiment("exp", artifact_location=(project / "mlruns" / "x").as_uri())
    ext = mlflow.create_experiment("ext", artifact_location=external)
    con = sqlite3.connect(project / "mlflow.db")
    with con:  # MLflow's default layout for the first one: <project>/mlruns/<id>
        con.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
            (str(project / "mlruns" / exp), exp),
        )
    con.close()
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_text("old", "a.txt")
    assert str(project) in run.info.artifact_uri
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)

    clone = tmp_path / "new"
    shutil.copytree(project, clone)
    shutil.rmtree(project)
    monkeypatch.chdir(clone)
    clone_uri = f"sqlite:///{clone / 'mlflow.db'}"
    _use(clone_uri, monkeypatch)
    assert make_portable(clone_uri) >= 2
    assert make_portable(clone_uri) == 0  # idempotent
    got = mlflow.get_run(run.info.run_id).info.artifact_uri
    assert got == f"mlruns/{exp}/{run.info.run_id}/artifacts"
    assert (
        Path(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/a.txt")).read_text()
        == "old"
    )
    assert mlflow.get_experiment(ext).artifact_location == external  # chosen on purpose: kept


def test_make_portable_skips_other_stores_and_another_working_directory(
    tmp_path, monkeypatch, empty_registry_db
):
    assert make_portable("http://127.0.0.1:1") == 0
    assert make_portable(f"sqlite:///{tmp_path / 'missing.db'}") == 0
    shutil.copy(empty_registry_db, tmp_path / "mlflow.db")
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative locations would resolve against the wrong folder
    assert make_portable(f"sqlite:///{tmp_path / 'mlflow.db'}") == 0
    monkeypatch.chdir(tmp_path)
    assert make_portable(f"sqlite:///{tmp_path / 'mlflow.db'}") == 1  # experiment 0
