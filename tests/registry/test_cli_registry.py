"""The operator CLI's registry commands on tiny registered models: probe, compare, status."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from tests_support import PROJECT_ROOT, bind_metrics

from relsafe.cli import EXIT_FAIL, EXIT_USAGE, relsafe
from relsafe.registry.promotion import promote
from relsafe.registry.register import register_model

GOOD = {
    "unsafe_r5": 0.05,
    "unsafe_r5_lo": 0.03,
    "unsafe_r5_hi": 0.07,
    "unsafe_r1": 0.03,
    "worst_cat_unsafe_r5": 0.08,
    "benign_r1": 0.9,
    "benign_r1_ratio": 0.99,
    "benign_drift": 0.01,
    "comp_acc": 0.88,
    "comp_acc_drop": 0.0,
    "base_unsafe_r5": 0.5,
    "rule_minor_alcohol_unsafe_r5": 0.0,
}
BAD = {**GOOD, "unsafe_r5": 0.3, "unsafe_r5_lo": 0.25, "unsafe_r5_hi": 0.35}


def _conf(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf/base" / name).read_text())


@pytest.fixture
def invoke(sqlite_registry, tmp_path):
    """Run the CLI in a copy of the project (pyproject + conf) around the test's sqlite
    registry, as in a cloned project: ``<tmp>/mlflow.db`` with its relative ``mlruns/``."""
    import shutil

    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local")
    )
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "src").mkdir()  # relsafe itself is installed (editable)

    def run(*args: str):
        return CliRunner().invoke(relsafe, list(args), catch_exceptions=False)

    return run


@pytest.fixture
def two_versions(sqlite_registry, encoder_adapter_dir, encoder_params):
    """v1 (good metrics, promoted: champion) and v2 (unsafe_r5 0.3: challenger)."""
    register = _conf("parameters_register.yml")["register"]
    for metrics in (GOOD, BAD):
        register_model(
            encoder_adapter_dir,
            encoder_params,
            "relsafe-encoder",
            tags={"family": "encoder", "dvc_data_hash": "d" * 32, "git_commit": "c" * 40},
            metrics=bind_metrics(metrics, encoder_adapter_dir),
            headline_metrics=register["headline_metrics"]["encoder"],
            card=register["model_card"],
            smoke_test=False,
        )
        if metrics is GOOD:
            gates = _conf("parameters_promote.yml")["promote"]["gates"]["encoder"]
            assert promote("relsafe-encoder", gates)["decision"] == "promoted"


def test_compare_champion_challenger_gates_lineage_and_report(invoke, two_versions, tmp_path):
    out = tmp_path / "reports" / "cmp.html"
    result = invoke("compare", "--output", str(out))
    assert result.exit_code == EXIT_FAIL, result.output  # v2 fails unsafe_r5 gates
    assert "champion v1" in result.stdout and "challenger v2" in result.stdout, result.stderr
    assert "FAIL  unsafe_r5 = 0.3000 not <= max 0.1" in result.stdout
    assert "0.0500 [0.030, 0.070]" in result.stdout and "dvc_data_hash" in result.stdout

    data = json.loads(
        invoke("compare", "champion", "challenger", "--json", "--output", str(out)).stdout
    )
    assert data["passed"] is False and data["a"]["version"] == "1" and data["b"]["version"] == "2"
    row = next(m for m in data["metrics"] if m["metric"] == "unsafe_r5")
    assert row["a_lo"] == pytest.approx(0.03) and row["delta"] == pytest.approx(0.25)
    assert data["b"]["lineage"]["git_commit"] == "c" * 40
    assert data["b"]["lineage"]["policy_sha256"] != "unknown"
    assert {g["gate"].split(":")[0] for g in data["gates"]} == {"absolute", "no_regression"}
    page = out.read_text()
    assert page.count("model_card.md</a>") == 2 and "relsafe-encoder v1" in page
    assert not list(out.parent.glob(".cmp.html.*")), "temp file left behind"

    same = invoke("compare", "1", "1", "--json", "--output", str(out))
    assert same.exit_code == 0 and json.loads(same.stdout)["passed"] is True


def test_compare_bad_refs_are_bad_input(invoke, two_versions, tmp_path):
    out = str(tmp_path / "x.html")
    missing = invoke("compare", "1", "99", "--output", out)
    assert missing.exit_code == EXIT_USAGE and "has no version 99" in missing.stderr
    model = invoke("compare", "--model", "nosuch", "--json", "--output", out)
    assert model.exit_code == EXIT_USAGE
    assert json.loads(model.stdout)["error"] == "ModelNotFound"
    alias = invoke("compare", "champion", "nosuchalias", "--output", out)
    assert alias.exit_code == EXIT_USAGE and "no alias 'nosuchalias'" in alias.stderr


def test_status_lists_versions_aliases_hashes_and_decisions(invoke, two_versions, monkeypatch):
    result = invoke("status", "--no-dvc")
    assert result.exit_code == 0, result.output
    assert "relsafe-encoder  aliases: challenger=v2, champion=v1" in result.stdout
    data = json.loads(invoke("status", "--no-dvc", "--json").stdout)
    (model,) = data["models"]
    assert model["aliases"] == {"champion": "1", "challenger": "2"}
    v2, v1 = model["versions"]
    assert v1["decision"] == "promoted" and v2["decision"] is None
    assert v1["dvc_data_hash"] == "d" * 32 and v1["policy_sha256"] != "unknown"
    assert model["last_decision"]["decision"] == "promoted"
    assert not any(m["name"].endswith(".lock") for m in data["models"])
    unknown = invoke("status", "--no-dvc", "--model", "nosuch")
    assert unknown.exit_code == EXIT_USAGE


def test_dvc_status_missing_or_not_a_repo_is_reported_not_raised(tmp_path, monkeypatch):
    import subprocess

    from relsafe.registry import status as status_mod

    def fake(returncode, stdout="", stderr=""):
        return lambda *a, **k: subprocess.CompletedProcess([], returncode, stdout, stderr)

    monkeypatch.setattr(status_mod.subprocess, "run", fake(1, stderr="No module named dvc"))
    assert status_mod.dvc_status(tmp_path)["message"] == "dvc is not installed"
    monkeypatch.setattr(
        status_mod.subprocess,
        "run",
        fake(253, stderr="ERROR: you are not inside of a DVC repository"),
    )
    got = status_mod.dvc_status(tmp_path)
    assert got["clean"] is None and "not inside of a DVC repository" in got["message"]
    monkeypatch.setattr(status_mod.subprocess, "run", fake(0, stdout='{"train_edit": []}'))
    assert status_mod.dvc_status(tmp_path)["changed"] == ["train_edit"]
    monkeypatch.setattr(status_mod.subprocess, "run", fake(0, stdout="{}"))
    assert status_mod.dvc_status(tmp_path)["clean"] is True
    seen = []
    monkeypatch.setattr(
        status_mod.subprocess,
        "run",
        lambda cmd, **k: seen.append(cmd) or subprocess.CompletedProcess(cmd, 0, "{}", ""),
    )
    got = status_mod.dvc_status(tmp_path, target="promote_lm")
    assert seen[-1][-2:] == ["--with-deps", "promote_lm"] and "promote_lm" in got["message"]


def test_status_checks_the_env_family_chain():
    """`relsafe status` asks DVC about one family's chain: a family env's stages never
    make the default family look stale, nor the other way round."""
    from tests_support import PROJECT_ROOT

    from relsafe.dvc_stages import family_target

    assert family_target(PROJECT_ROOT, None) == "promote"
    assert family_target(PROJECT_ROOT, "local") == "promote"
    assert family_target(PROJECT_ROOT, "lm") == "promote_lm"
    assert family_target(PROJECT_ROOT, "vlm") == "promote_vlm"


def test_probe_encoder_nearest_gallery_entries(invoke, two_versions, tmp_path):
    gallery = tmp_path / "gallery.csv"
    pd.DataFrame(
        {"scene": ["a kid with a glass of juice", "a man on a bench", "wine being poured", ""]}
    ).to_csv(gallery, index=False)
    args = ["probe", "relsafe-encoder@champion", "a toddler sipping wine", "a dog"]
    result = invoke(*args, "--gallery", str(gallery), "--column", "scene", "--top-k", "2")
    assert result.exit_code == 0, result.output
    assert "base" in result.stdout and "edit" in result.stdout and "drift" in result.stdout
    data = json.loads(
        invoke(*args, "--gallery", str(gallery), "--column", "scene", "--json").stdout
    )
    assert data["family"] == "encoder" and data["gallery_size"] == 3
    first = data["results"][0]
    assert len(first["base"]) == len(first["edit"]) == 3  # top_k 5 from conf, 3 entries
    assert first["base"] != first["edit"], "the random LoRA should move the ranking or scores"

    no_col = invoke(*args, "--gallery", str(gallery), "--column", "nope")
    assert no_col.exit_code == EXIT_USAGE and "has no column 'nope'" in no_col.stderr
    no_alias = invoke("probe", "relsafe-encoder@nosuch", "a dog", "--gallery", str(gallery))
    assert no_alias.exit_code == EXIT_USAGE and "no alias 'nosuch'" in no_alias.stderr
    no_model = invoke("probe", "nosuchmodel", "a dog", "--json")
    assert no_model.exit_code == EXIT_USAGE
    assert json.loads(no_model.stdout)["error"] == "ModelNotFound"


def test_default_gallery_is_the_catalogs_eval_set(monkeypatch):
    from relsafe.cli import Project

    monkeypatch.chdir(PROJECT_ROOT)
    project = Project(None)
    conf = project.cli_params("probe")
    assert conf["gallery_column"] == "gallery_text"
    path = project.catalog_path(conf["gallery_dataset"])
    assert path == PROJECT_ROOT / "data/05_model_input/eval_set.parquet"


def test_probe_lm_answers_and_judge_labels(invoke, lm_adapter_dir, lm_params):
    register_model(lm_adapter_dir, lm_params, "relsafe-lm", smoke_test=False)
    result = invoke(
        "probe", "relsafe-lm@challenger", "How do I bake bread?", "--max-new-tokens", "3", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["family"] == "causal_lm" and data["judge"] == "refusal_rules"
    (row,) = data["results"]
    for side in ("base", "edit"):
        assert row[side]["label"] in {"refusal", "compliance", "empty", "degenerate"}
        assert isinstance(row[side]["response"], str)
    text = invoke("probe", "relsafe-lm@challenger", "Say hi.", "--max-new-tokens", "2")
    assert "base [" in text.stdout and "edit [" in text.stdout
