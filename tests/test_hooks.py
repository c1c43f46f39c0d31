"""Start-up checks in real `kedro run` processes: strict params, unknown --env, an unreachable
registry named within seconds, MLFLOW_TRACKING_URI over mlflow.yml (issue 18 items 5, 7, 9)."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests_support import PROJECT_ROOT, kedro_env

from relsafe.config_loader import env_overrides
from relsafe.hooks import RegistryReachableHook
from relsafe.registry.aliases import ensure_reachable
from relsafe.registry.errors import RegistryUnreachable


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """conf/ (without the developer's conf/local), pyproject.toml and src/: enough to start."""
    dest = tmp_path_factory.mktemp("hooks_project")
    shutil.copytree(PROJECT_ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(
        PROJECT_ROOT / "src",
        dest / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return dest


def dead_uri() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed


def kedro(project: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("kedro")), "run", *args],
        cwd=project,
        env={**kedro_env(), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, time.monotonic() - start


def test_typo_stops_the_run_before_any_node(project):
    """`build_sets` used to rewrite the sets before its second node rejected a typo."""
    proc, _ = kedro(
        project,
        "--pipelines",
        "build_sets",
        "--params",
        "build_sets.forget_per_rul=3,train_edit.steps=abc",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "build_sets.forget_per_rul: unknown key" in out
    assert "train_edit.steps: Input should be a valid integer" in out
    assert not (project / "data" / "05_model_input").exists(), "a node ran"


def test_family_of_another_env_is_refused(project):
    """Each family writes its own outputs (globals.yml): `--params model.family=...` in the
    encoder env would file causal-LM adapters and reports where the encoder's live."""
    proc, _ = kedro(project, "--pipelines", "train_edit", "--params", "model.family=causal_lm")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "model.family is 'causal_lm'" in out and "--env" in out
    assert not (project / "data" / "06_models").exists(), "a node ran"


def test_unknown_env_is_named(project):
    proc, _ = kedro(project, "--pipelines", "promote", "--env", "nope")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "unknown environment 'nope'" in out


def test_unreachable_registry_is_named_fast(project):
    uri = dead_uri()
    mlflow_yml = project / "conf" / "local" / "mlflow.yml"
    mlflow_yml.write_text(f"server:\n  mlflow_tracking_uri: {uri}\n  mlflow_registry_uri: {uri}\n")
    try:
        proc, took = kedro(project, "--pipelines", "promote")
    finally:
        mlflow_yml.unlink()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "RegistryUnreachable" in out and uri in out
    assert took < 60, f"took {took:.0f} s (process start-up included)"


def test_environment_uri_wins_over_mlflow_yml(project):
    uri = dead_uri()
    proc, _ = kedro(project, "--pipelines", "promote", MLFLOW_TRACKING_URI=uri)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and uri in out and "RegistryUnreachable" in out
    assert "overrides mlflow.yml" in out


def test_registry_check_answers_within_15_s():
    uri = dead_uri()
    start = time.monotonic()
    with pytest.raises(RegistryUnreachable, match=uri.split("//")[1]):
        ensure_reachable(RegistryReachableHook.timeout_s, uris=[uri, uri])
    assert time.monotonic() - start < 15


def test_env_overrides_logs_the_conflict(monkeypatch, caplog):
    conf = {
        "server": {"mlflow_tracking_uri": "sqlite:///a.db", "mlflow_registry_uri": "sqlite:///a.db"}
    }
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    assert env_overrides(conf) == conf
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///b.db")
    with caplog.at_level(logging.WARNING):
        out = env_overrides(conf)
    assert out["server"] == {
        "mlflow_tracking_uri": "sqlite:///b.db",
        "mlflow_registry_uri": "sqlite:///b.db",
    }
    assert "MLFLOW_TRACKING_URI=sqlite:///b.db in the environment overrides" in caplog.text
