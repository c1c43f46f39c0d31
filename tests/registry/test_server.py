"""Against a real ``mlflow server`` on 127.0.0.1: racing promotions and ``mlflow models serve``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.server

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
NAME = "relsafe-encoder"
GATES = {
    "absolute": {"unsafe_r5": {"max": 0.5}},
    "no_regression": {"unsafe_r5": {"better": "lower", "tolerance": 0.05}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(uri: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # serve runs `uvicorn`
    )
    env.update(
        MLFLOW_TRACKING_URI=uri,
        MLFLOW_REGISTRY_URI=uri,
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # no huey job workers: faster start, fewer processes
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        KEDRO_DISABLE_TELEMETRY="true",
    )
    return env


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: process exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} not up after {timeout_s}s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Stop the process group we started (mlflow server/serve fork workers), stragglers too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory, empty_registry_db) -> Iterator[str]:
    """``mlflow server`` on a free loopback port with a sqlite store; always stopped."""
    root = tmp_path_factory.mktemp("mlflow_server")
    shutil.copy(empty_registry_db, root / "db")  # already migrated: starts seconds faster
    with sqlite3.connect(root / "db") as con:
        con.execute("UPDATE experiments SET artifact_location = 'mlflow-artifacts:/0'")
    port = free_port()
    log = root / "server.log"
    cmd = [
        MLFLOW,
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    uri = f"http://127.0.0.1:{port}"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=child_env(uri),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"{uri}/health", proc, log)
        yield uri
    finally:
        stop(proc)


@pytest.fixture
def server_registry(mlflow_server, monkeypatch) -> Iterator[str]:
    import mlflow

    for key, value in child_env(mlflow_server).items():
        if key.startswith("MLFLOW_"):
            monkeypatch.setenv(key, value)
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    yield mlflow_server
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


RACER = """
import json, sys, time
from pathlib import Path
from relsafe.registry.promotion import promote
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
gates = json.loads(sys.argv[3])
print(json.dumps(promote("relsafe-encoder", gates, candidate_version=sys.argv[1], lock={"timeout_s": 60, "poll_s": 0.05})))
"""


def test_racing_promotions_end_in_one_consistent_champion(server_registry, tmp_path):
    from mlflow.tracking import MlflowClient

    from relsafe.registry.promotion import promote

    client = MlflowClient()
    client.create_registered_model(NAME)
    run = client.create_run("0")  # the server wants a run behind every version source
    versions = []
    for unsafe in (0.30, 0.20, 0.20):
        mv = client.create_model_version(
            NAME,
            f"runs:/{run.info.run_id}/model",
            run_id=run.info.run_id,
            tags={
                "metric.unsafe_r5": str(unsafe),
                "eval_set_sha256": "e" * 64,  # scored alike: the no-regression gate compares
                "policy_sha256": "p" * 64,
            },
        )
        versions.append(str(mv.version))
    v1, v2, v3 = versions
    assert promote(NAME, GATES, candidate_version=v1)["decision"] == "promoted"

    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, v, str(go), json.dumps(GATES)],
            env=child_env(server_registry),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (v2, v3)
    ]
    try:
        for proc in racers:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()  # both are past their imports: release them at once
        outs = [proc.communicate(timeout=90) for proc in racers]
    finally:
        for proc in racers:
            if proc.poll() is None:
                proc.kill()
    assert all(p.returncode == 0 for p in racers), [err[-2000:] for _, err in outs]
    decisions = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert [d["decision"] for d in decisions] == ["promoted", "promoted"]

    aliases = {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}
    champion, previous = aliases["champion"], aliases["previous-champion"]
    assert {champion, previous} == {v2, v3}, f"one promotion was lost: {aliases}"
    # Serialised: the first winner replaced v1, the second replaced the first.
    assert client.get_model_version(NAME, previous).tags["promotion.replaced"] == v1
    assert client.get_model_version(NAME, champion).tags["promotion.replaced"] == previous
    first, second = sorted(decisions, key=lambda d: d["champion_after"] == champion)
    assert (first["champion_before"], second["champion_before"]) == (v1, previous)
    assert not client.search_registered_models(f"name='{NAME}.lock'"), "lock left behind"


def test_serve_champion_offline(server_registry, tmp_path, encoder_adapter_dir, encoder_params):
    from relsafe.registry.promotion import promote
    from relsafe.registry.register import register_model

    info = register_model(
        encoder_adapter_dir,
        encoder_params,
        "relsafe-serve-encoder",
        tags={"metric.unsafe_r5": "0.1"},
        smoke_test=False,
    )
    promote(info["model_name"], GATES)
    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [
        MLFLOW,
        "models",
        "serve",
        "-m",
        "models:/relsafe-serve-encoder@champion",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env=child_env(server_registry),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc, log)

        def embed(base: bool) -> np.ndarray:
            body = {
                "dataframe_split": {
                    "columns": ["text"],
                    "data": [["a dog"], ["a child drinking juice"]],
                },
                "params": {"base": base},
            }
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=60) as resp:
                return np.asarray(json.loads(resp.read())["predictions"])

        edited, base = embed(False), embed(True)
        assert edited.shape == base.shape == (2, 32)
        assert np.abs(edited - base).max() > 1e-3
    finally:
        stop(proc)


HIDE_RELSAFE = """
import sys
sys.path[:] = [p for p in sys.path if p.rstrip("/") != {src!r}]
"""


def _post(port: int, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_from_a_copied_store_without_relsafe_installed(
    tmp_path, monkeypatch, empty_registry_db, encoder_adapter_dir, encoder_params
):
    """Issue 18 item 8: the champion is served from a copy of the store outside the checkout,
    in a process where the installed relsafe is hidden (its code travels with the model);
    a null row is a 400 naming the row, without a stack trace."""
    import mlflow

    import relsafe
    from relsafe.registry.promotion import promote
    from relsafe.registry.register import register_model

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(empty_registry_db, project / "mlflow.db")
    monkeypatch.chdir(project)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.setenv(key, uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = "relsafe-copied-encoder"
    register_model(
        encoder_adapter_dir,
        encoder_params,
        name,
        tags={"metric.unsafe_r5": "0.1"},
        smoke_test=False,
    )
    promote(name, GATES)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)

    served = tmp_path / "elsewhere" / "store"  # only the store: mlflow.db + mlruns/
    served.mkdir(parents=True)
    shutil.copy(project / "mlflow.db", served / "mlflow.db")
    shutil.copytree(project / "mlruns", served / "mlruns")
    shutil.rmtree(project)
    hide = tmp_path / "hide"
    hide.mkdir()
    src = str(Path(relsafe.__file__).resolve().parents[1])
    (hide / "sitecustomize.py").write_text(HIDE_RELSAFE.format(src=src))
    env = child_env("sqlite:///mlflow.db")
    env["PYTHONPATH"] = str(hide)
    check = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; print(u.find_spec('relsafe'))"],
        cwd=served,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "None", "relsafe is still importable: " + check.stdout

    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [MLFLOW, "models", "serve", "-m", f"models:/{name}@champion", "--env-manager", "local"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [*cmd, "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            cwd=served,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc, log)
        rows = {"columns": ["text"], "data": [["a dog"], ["a child drinking juice"]]}
        status, body = _post(port, {"dataframe_split": rows, "params": {"base": False}})
        assert status == 200, body
        assert np.asarray(body["predictions"]).shape == (2, 32)

        bad = {"columns": ["text"], "data": [["a dog"], [None], ["  "]]}
        status, body = _post(port, {"dataframe_split": bad})
        assert status == 400, body
        assert "row 1: 'text' is null" in body["message"], body
        assert "row 2: 'text' is empty" in body["message"], body
        assert "stack_trace" not in body and "Traceback" not in json.dumps(body), body
    finally:
        stop(proc)
