"""`make dag`: the kedro-airflow DAG for ``__full__`` has the chain's tasks, order and schedule.

Airflow itself is not installed: the generated file is checked as Python source (``ast``).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import yaml
from tests_support import PROJECT_ROOT, kedro_env

from relsafe import dvc_stages
from relsafe.pipeline_registry import FULL_CHAIN

DAG_FILE = "relsafe___full___dag.py"


@pytest.fixture(scope="module")
def pipelines():
    return dvc_stages.load_pipelines("relsafe")


@pytest.fixture(scope="module")
def dag_source(tmp_path_factory) -> str:
    """Run the `make dag` command in a copy of conf/ (its session must not touch ./mlflow.db)."""
    project = tmp_path_factory.mktemp("airflow") / "proj"
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    (project / "src").mkdir()  # Kedro wants the source folder; the package is the installed one
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    kedro = Path(sys.executable).with_name("kedro")
    cmd = [str(kedro), "airflow", "create", "--pipelines", "__full__", "--target-dir", "dags"]
    proc = subprocess.run(
        cmd, cwd=project, env=kedro_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (
        f"kedro airflow create failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return (project / "dags" / DAG_FILE).read_text()


def _slug(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


def _dag_kwargs(tree: ast.Module) -> dict:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "dag":
                    return {kw.arg: kw.value for kw in deco.keywords}
    raise AssertionError("no @dag(...) in the generated file")


def _task_ids(tree: ast.Module) -> list[str]:
    ids = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "task":
            ids += [kw.value.value for kw in node.keywords if kw.arg == "task_id"]
    return ids


def _edges(tree: ast.Module) -> set[tuple[str, str]]:
    """``tasks["a"] >> tasks["b"]`` statements."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            a, b = node.left, node.right
            if isinstance(a, ast.Subscript) and isinstance(b, ast.Subscript):
                found.add((a.slice.value, b.slice.value))
    return found


def test_dag_is_valid_python_with_the_configured_schedule(dag_source):
    tree = ast.parse(dag_source)
    compile(dag_source, DAG_FILE, "exec")
    config = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "airflow.yml").read_text())["default"]
    kwargs = _dag_kwargs(tree)
    assert ast.literal_eval(kwargs["schedule"]) == config["schedule"]
    assert ast.literal_eval(kwargs["max_active_runs"]) == 1, "runs share data/ and the registry"
    assert ast.literal_eval(kwargs["catchup"]) is False
    default_args = {kw.arg: kw.value for kw in kwargs["default_args"].keywords}
    assert ast.literal_eval(default_args["owner"]) == config["owner"]
    assert ast.literal_eval(default_args["retries"]) == config["retries"]
    assert 'pipeline_name = "__full__"' in dag_source


def test_dag_has_one_task_per_node_of_the_full_chain(dag_source, pipelines):
    full = pipelines["__full__"]
    assert sorted(_task_ids(ast.parse(dag_source))) == sorted(_slug(n.name) for n in full.nodes)
    names = [n for n in FULL_CHAIN if n in pipelines]
    assert names == list(FULL_CHAIN), f"__full__ should chain {FULL_CHAIN}; registered: {names}"
    assert {n.name for n in full.nodes} == {n.name for p in names for n in pipelines[p].nodes}


def test_dag_dependencies_follow_the_chain(dag_source, pipelines):
    edges = _edges(ast.parse(dag_source))
    full = pipelines["__full__"]
    expected = {
        (_slug(up.name), _slug(node.name))
        for node, ups in full.node_dependencies.items()
        for up in ups
    }
    assert edges == expected
    graph = nx.DiGraph(edges)
    graph.add_nodes_from(_slug(n.name) for n in full.nodes)
    assert nx.is_directed_acyclic_graph(graph)
    done: set[str] = set()
    for name in FULL_CHAIN:  # extract -> sets -> train -> evaluate -> register -> promote
        tasks = {_slug(n.name) for n in pipelines[name].nodes}
        for task in sorted(tasks):
            ancestors = nx.ancestors(graph, task)
            assert not ancestors & _later(pipelines, name), f"{task} waits for a later stage"
            if done and not ancestors & done:
                pytest.fail(
                    f"task {task!r} ({name}) has no upstream task in earlier stages: it would start with the DAG. Make {name} read an output of the stage before it."
                )
        done |= tasks


def _later(pipelines, name: str) -> set[str]:
    later = FULL_CHAIN[FULL_CHAIN.index(name) + 1 :]
    return {_slug(n.name) for p in later for n in pipelines[p].nodes}


def test_datasets_between_tasks_are_persisted(pipelines):
    """Each task is its own process: whatever one node hands another must be a file."""
    full = pipelines["__full__"]
    handed = {d for d in full.all_outputs() if d in full.all_inputs()}
    resolver = dvc_stages.load_catalog_resolver(PROJECT_ROOT)
    memory = sorted(
        d
        for d in handed
        if dvc_stages.dataset_file(d, resolver.resolve_pattern(d), PROJECT_ROOT) is None
    )
    assert not memory, f"add catalog entries for {memory}: tasks run in separate processes"
