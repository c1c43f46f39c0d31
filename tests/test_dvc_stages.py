"""dvc.yaml mirrors the Kedro pipelines and the catalog; the generator and the dvc.lock reader."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from kedro.io.catalog_config_resolver import CatalogConfigResolver
from kedro.pipeline import Node, Pipeline
from tests_support import PROJECT_ROOT

from relsafe import dvc_stages
from relsafe.tools.dvc_lock import data_hash, data_inputs

CODE_ROOT = "src/"


# --- the real project -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Pipeline]:
    return dvc_stages.load_pipelines("relsafe")


@pytest.fixture(scope="module")
def dvc_yaml() -> dict:
    path = PROJECT_ROOT / "dvc.yaml"
    assert path.is_file(), "dvc.yaml is missing: run `make dvc-yaml`"
    return yaml.safe_load(path.read_text())["stages"]


@pytest.fixture(scope="module")
def catalog() -> CatalogConfigResolver:
    """conf/base catalog parsed straight from YAML (Kedro's resolver only expands factories)."""
    config: dict = {}
    base_globals = yaml.safe_load((PROJECT_ROOT / "conf/base/globals.yml").read_text()) or {}
    for file in sorted((PROJECT_ROOT / "conf" / "base").glob("catalog*.yml")):
        text = file.read_text()
        for key, value in base_globals.items():  # the default family's ${globals:...} paths
            text = text.replace("${globals:" + key + "}", str(value))
        config.update(yaml.safe_load(text) or {})
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    return CatalogConfigResolver(
        config=config, default_runtime_patterns={"{default}": {"type": "MemoryDataset"}}
    )


def _file_of(config: dict) -> str | None:
    """The file behind an entry; None for memory datasets and ``metadata: {dvc: {kind: skip}}``."""
    meta = (config.get("metadata") or {}).get("dvc") or {}
    if meta == "skip" or (isinstance(meta, dict) and meta.get("kind") == "skip"):
        return None
    for key in ("filepath", "path"):
        if isinstance(config.get(key), str):
            return config[key]
    inner = config.get("dataset")
    return _file_of(inner) if isinstance(inner, dict) else None


def _entries(items: list) -> set[str]:
    return {next(iter(i)) if isinstance(i, dict) else i for i in items or []}


def _data(names) -> set[str]:
    return {n for n in names if n != "parameters" and not n.startswith("params:")}


def test_dvc_yaml_is_current(pipelines):
    expected = dvc_stages.generate(PROJECT_ROOT, pipelines)
    assert (PROJECT_ROOT / "dvc.yaml").read_text() == expected, (
        "dvc.yaml is stale: run `make dvc-yaml`"
    )


def test_every_pipeline_is_a_stage(pipelines, dvc_yaml):
    expected = [n for n in pipelines if not n.startswith("__") and n not in dvc_stages.NOT_STAGES]
    missing = sorted(set(expected) - set(dvc_yaml))
    assert not missing, f"pipelines without a DVC stage: {missing}"
    envs = dvc_stages.family_envs(PROJECT_ROOT)
    family_stages = {f"{n}_{env}" for n in expected for env in envs}
    assert not set(dvc_yaml) - set(expected) - family_stages, "dvc.yaml has stages for no pipeline"
    chain = [n for n in dvc_stages.chain_order() if n in dvc_yaml]
    assert list(dvc_yaml)[: len(chain)] == chain
    for name, stage in dvc_yaml.items():
        if "--env" in stage["cmd"]:  # a family stage: test_every_family_has_its_own_stages
            continue
        assert stage["cmd"].startswith(f"kedro run --pipelines {name}"), stage["cmd"]


def test_stage_deps_and_outs_match_pipeline_datasets(pipelines, dvc_yaml, catalog):
    for name, stage in dvc_yaml.items():
        if "--env" in stage["cmd"]:  # a family stage: test_every_family_has_its_own_stages
            continue
        pipe = pipelines[name]
        reads = {_file_of(catalog.resolve_pattern(d)) for d in _data(pipe.inputs())} - {None}
        writes = {_file_of(catalog.resolve_pattern(d)) for d in _data(pipe.all_outputs())} - {None}
        data_deps = {d for d in stage["deps"] if not d.startswith(CODE_ROOT)}
        outs = (
            _entries(stage.get("outs"))
            | _entries(stage.get("metrics"))
            | _entries(stage.get("plots"))
        )
        assert data_deps == reads, f"stage {name}: deps drifted from what the pipeline reads"
        assert outs == writes, f"stage {name}: outs drifted from what the pipeline writes"
        assert f"src/relsafe/pipelines/{name}" in stage["deps"]


def test_stage_params_match_pipeline_params(pipelines, dvc_yaml):
    for name, stage in dvc_yaml.items():
        if "--env" in stage["cmd"]:  # a family stage: test_every_family_has_its_own_stages
            continue
        wanted = {
            p.removeprefix("params:") for p in pipelines[name].inputs() if p.startswith("params:")
        }
        declared = {}
        for item in stage.get("params") or []:
            ((file, keys),) = item.items()
            assert file.startswith("conf/base/parameters") and (PROJECT_ROOT / file).is_file(), file
            for key in keys:
                top = yaml.safe_load((PROJECT_ROOT / file).read_text())
                assert key.split(".")[0] in top, f"{file} has no {key!r}"
                declared[key] = file
        assert set(declared) == wanted, f"stage {name}: params drifted"
    assert not (PROJECT_ROOT / "params.yaml").exists(), (
        "params come from conf/base, not a params.yaml copy"
    )


def test_no_memory_dataset_crosses_a_stage(pipelines):
    stages = dvc_stages.plan_stages(PROJECT_ROOT, pipelines)
    assert dvc_stages.persistence_problems(stages) == []
    assert dvc_stages.overlap_problems(stages) == []


def test_metrics_json_is_an_uncached_metric(dvc_yaml):
    metrics = [m for s in dvc_yaml.values() for m in s.get("metrics") or []]
    assert {"data/08_reporting/metrics.json": {"cache": False}} in metrics


def test_policy_is_a_dependency_of_build_sets(dvc_yaml):
    assert "conf/base/safety_policy.yml" in dvc_yaml["build_sets"]["deps"]
    assert "conf/base/safety_policy.yml" not in dvc_yaml["extract_tuples"]["deps"]


# --- the generator on a synthetic project ---------------------------------------------------


def _noop(*args):
    return args[0] if len(args) == 1 else args


def _project(tmp_path: Path, catalog: dict, params: dict) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.kedro]\npackage_name = "relsafe"\nsource_dir = "src"\n'
    )
    base = tmp_path / "conf" / "base"
    base.mkdir(parents=True)
    (base / "catalog.yml").write_text(yaml.safe_dump(catalog))
    for name, data in params.items():
        (base / f"parameters_{name}.yml").write_text(yaml.safe_dump(data))
    return tmp_path


def _two_stages(middle: str = "mid") -> dict[str, Pipeline]:
    return {
        "first": Pipeline([Node(_noop, ["raw", "params:first"], middle, name="a")]),
        "second": Pipeline(
            [Node(_noop, [middle, "params:second.lr"], ["scores", "curve"], name="b")]
        ),
        "__default__": Pipeline([]),
    }


def test_generator_flags_memory_dataset_between_stages(tmp_path):
    project = _project(
        tmp_path,
        {"raw": {"type": "pandas.CSVDataset", "filepath": "data/raw.csv"}},
        {"first": {"first": {}}, "second": {"second": {"lr": 1}}},
    )
    with pytest.raises(
        ValueError, match="stage 'second' reads 'mid'.*produced in memory by stage 'first'"
    ):
        dvc_stages.generate(project, _two_stages())


def test_generator_kinds_factories_and_params(tmp_path):
    catalog = {
        "raw": {"type": "pandas.CSVDataset", "filepath": "data/raw.csv"},
        "{name}_x": {"type": "pandas.ParquetDataset", "filepath": "data/{name}.parquet"},
        "scores": {
            "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
            "dataset": {"type": "json.JSONDataset", "filepath": "data/metrics.json"},
        },
        "curve": {
            "type": "pandas.CSVDataset",
            "filepath": "data/curve.csv",
            "metadata": {"dvc": {"kind": "plots", "x": "step", "y": "loss"}},
        },
    }
    project = _project(
        tmp_path, catalog, {"first": {"first": {"k": 1}}, "second": {"second": {"lr": 1}}}
    )
    doc = yaml.safe_load(dvc_stages.generate(project, _two_stages("mid_x")))["stages"]
    assert list(doc) == ["first", "second"]
    assert doc["first"] == {
        "cmd": "kedro run --pipelines first",
        "deps": ["data/raw.csv"],
        "params": [{"conf/base/parameters_first.yml": ["first"]}],
        "outs": ["data/mid.parquet"],
    }
    assert doc["second"]["deps"] == ["data/mid.parquet"]
    assert doc["second"]["params"] == [{"conf/base/parameters_second.yml": ["second.lr"]}]
    assert doc["second"]["metrics"] == [{"data/metrics.json": {"cache": False}}]
    assert doc["second"]["plots"] == [{"data/curve.csv": {"x": "step", "y": "loss"}}]


def test_generator_rejects_unknown_param_key(tmp_path):
    project = _project(
        tmp_path,
        {
            "raw": {"type": "pandas.CSVDataset", "filepath": "data/raw.csv"},
            "mid": {"type": "pandas.CSVDataset", "filepath": "data/mid.csv"},
        },
        {"first": {"first": {}}},
    )
    with pytest.raises(ValueError, match="no conf/base/parameters\\*.yml defines 'second'"):
        dvc_stages.plan_stages(project, _two_stages())


def test_overlapping_outputs_are_flagged():
    a = dvc_stages.Stage("a", outs=[dvc_stages.DatasetFile("m", "data/models")])
    b = dvc_stages.Stage("b", outs=[dvc_stages.DatasetFile("x", "data/models/x.bin")])
    assert dvc_stages.overlap_problems([a, b]) == [
        "data/models/x.bin (stage 'b') overlaps data/models (stage 'a')"
    ]


def test_code_dependencies_follow_imports(tmp_path):
    src = tmp_path / "src"
    files = {
        "relsafe/__init__.py": "",
        "relsafe/pipelines/__init__.py": "",
        "relsafe/pipelines/p/__init__.py": "",
        "relsafe/pipelines/p/nodes.py": "from relsafe.alpha import f\n",
        "relsafe/alpha/__init__.py": "from .inner import f\n",
        "relsafe/alpha/inner.py": "def f():\n    from ..beta import g\n",
        "relsafe/beta/__init__.py": "import relsafe.gamma\n",
        "relsafe/gamma.py": "",
        "relsafe/unused/__init__.py": "",
    }
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    found = dvc_stages.code_dependencies(["relsafe.pipelines.p"], "relsafe", src)
    assert [p.relative_to(src).as_posix() for p in found] == [
        "relsafe/alpha",
        "relsafe/beta",
        "relsafe/gamma.py",
        "relsafe/pipelines/p",
    ]


def test_check_mode(tmp_path, monkeypatch):
    project = _project(
        tmp_path,
        {
            "raw": {"type": "pandas.CSVDataset", "filepath": "data/raw.csv"},
            "mid": {"type": "pandas.CSVDataset", "filepath": "data/mid.csv"},
        },
        {"first": {"first": {}}, "second": {"second": {"lr": 1}}},
    )
    monkeypatch.setattr(dvc_stages, "load_pipelines", lambda package: _two_stages())
    assert dvc_stages.main(["--check", "--project", str(project)]) == 1
    assert dvc_stages.main(["--write", "--project", str(project)]) == 0
    assert dvc_stages.main(["--check", "--project", str(project)]) == 0


# --- dvc.lock -> data hash ------------------------------------------------------------------


def _lock(tmp_path: Path, raw_md5: str) -> None:
    lock = {
        "schema": "2.0",
        "stages": {
            "extract": {
                "cmd": "x",
                "deps": [
                    {"path": "data/raw.csv", "md5": raw_md5},
                    {"path": "src/relsafe/oro", "md5": "c0de.dir"},
                ],
                "outs": [{"path": "data/tuples.parquet", "md5": "t1"}],
            },
            "train": {
                "cmd": "y",
                "deps": [
                    {"path": "data/tuples.parquet", "md5": "t1"},
                    {"path": "conf/base/safety_policy.yml", "md5": "p1"},
                ],
                "outs": [{"path": "data/adapter", "md5": "a1.dir"}],
            },
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))


def test_data_hash_without_lock_is_none(tmp_path):
    assert data_hash(tmp_path) == "none"
    assert data_inputs(tmp_path) == {}


def test_data_inputs_are_external_data_deps(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/raw.csv").write_text("caption\na dog\n")
    raw_md5 = hashlib.md5(b"caption\na dog\n").hexdigest()
    _lock(tmp_path, raw_md5)
    assert data_inputs(tmp_path) == {"conf/base/safety_policy.yml": "p1", "data/raw.csv": raw_md5}
    assert data_inputs(tmp_path, "train") == {
        "conf/base/safety_policy.yml": "p1",
        "data/tuples.parquet": "t1",
    }
    assert data_inputs(tmp_path, "missing") == {}
    expected = hashlib.md5(
        f"conf/base/safety_policy.yml:p1\ndata/raw.csv:{raw_md5}\n".encode()
    ).hexdigest()
    assert data_hash(tmp_path, verify=False) == expected
    # the policy file is absent here, so a verified hash is marked dirty
    assert data_hash(tmp_path) == expected + "-dirty"
    (tmp_path / "conf/base").mkdir(parents=True)
    (tmp_path / "conf/base/safety_policy.yml").write_text("x")
    _lock(tmp_path, raw_md5)
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())
    lock["stages"]["train"]["deps"][1]["md5"] = hashlib.md5(b"x").hexdigest()
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert not data_hash(tmp_path).endswith("-dirty")
    (tmp_path / "data/raw.csv").write_text("caption\na cat\n")
    assert data_hash(tmp_path).endswith("-dirty")


def test_data_hash_checks_folders_against_the_dvc_cache(tmp_path):
    folder = tmp_path / "data" / "corpus"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("a")
    entries = [{"md5": hashlib.md5(b"a").hexdigest(), "relpath": "a.csv"}]
    dir_md5 = "ab" + "0" * 30 + ".dir"
    cache = tmp_path / ".dvc/cache/files/md5/ab" / dir_md5[2:]
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(entries))
    lock = {"stages": {"s": {"cmd": "c", "deps": [{"path": "data/corpus", "md5": dir_md5}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert not data_hash(tmp_path).endswith("-dirty")
    (folder / "b.csv").write_text("b")
    assert data_hash(tmp_path).endswith("-dirty")


def test_every_family_has_its_own_stages(dvc_yaml):
    """conf/lm and conf/vlm (globals.yml family) get train/evaluate/register/promote stages run
    with their env, writing under <layer>/<family>/; none overlaps the encoder's outputs."""
    envs = dvc_stages.family_envs(PROJECT_ROOT)
    assert envs == {"lm": "causal_lm", "vlm": "vlm"}
    for env, family in envs.items():
        for name in ("build_sets", "train_edit", "evaluate_edit", "register", "promote"):
            stage = dvc_yaml[f"{name}_{env}"]
            assert stage["cmd"].startswith(f"kedro run --env {env} --pipelines {name}")
        outs = _entries(dvc_yaml[f"train_edit_{env}"]["outs"])
        assert f"data/06_models/{family}/edit_adapter" in outs
        metrics = _entries(dvc_yaml[f"evaluate_edit_{env}"]["metrics"])
        assert f"data/08_reporting/{family}/metrics.json" in metrics
        # the LM nodes only: the text sets stay the encoder stage's outputs
        assert "--nodes" in dvc_yaml[f"build_sets_{env}"]["cmd"]
        assert "data/05_model_input/forget_set.parquet" in dvc_yaml[f"build_sets_{env}"]["deps"]
