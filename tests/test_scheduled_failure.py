"""`dvc repro` on the real stage graph (tiny models): a failed run resumes, unchanged does nothing.

One temporary DVC project runs the default (encoder) family's chain in order: a run that fails at ``train_edit`` keeps
the completed stages' outputs and leaves the registry empty; the re-run continues from
``train_edit``; a third run does nothing; a policy edit re-runs ``build_sets`` onwards only.
The other families' stages (``<stage>_lm``, ``<stage>_vlm``, run with ``--env``) load their own
models from conf/<env>; they are named as targets out, and only their place in the graph is
checked here.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests_support import PROJECT_ROOT, kedro_env

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
UPSTREAM = ["extract_tuples", "build_sets"]
_RAN = re.compile(r"Running stage '([^']+)'")
_SKIPPED = re.compile(r"Stage '([^']+)' didn't change, skipping")


def make_dvc_project(dest: Path) -> Path:
    """A clean 'clone': code (for DVC's hashes), conf, raw data, dvc.yaml, .dvc config; one git commit."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PROJECT_ROOT / "src" / "relsafe", dest / "src" / "relsafe", ignore=ignore)
    shutil.copytree(PROJECT_ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    shutil.copytree(PROJECT_ROOT / "data" / "01_raw", dest / "data" / "01_raw")
    for folder in (PROJECT_ROOT / "data").iterdir():
        if folder.is_dir():
            (dest / "data" / folder.name).mkdir(exist_ok=True)
    for name in (
        "pyproject.toml",
        "dvc.yaml",
        ".dvcignore",
        ".gitignore",
        ".dvc/config",
        ".dvc/.gitignore",
    ):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / name, dest / name)
    (dest / "conf" / "local").mkdir()
    git = ["git", "-c", "user.name=relsafe-test", "-c", "user.email=test@relsafe.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run(git + args if args[0] == "commit" else ["git", *args], cwd=dest, check=True)
    return dest


def tiny_overrides(project: Path, model_path: Path) -> None:
    """conf/local (not tracked by DVC): few captions, a tiny model, two training steps."""
    model = {
        "family": "encoder",
        "kind": "mean_pool",
        "name_or_path": str(model_path),
        "tokenizer": None,
        "max_length": 32,
        "normalize": True,
    }
    local = project / "conf" / "local"
    (local / "parameters_extract_tuples.yml").write_text(
        yaml.safe_dump({"extract_tuples": {"limit": 40}})
    )
    (local / "parameters_train_edit.yml").write_text(
        yaml.safe_dump({"model": model, "train_edit": {"steps": 2, "batch_size": 4}})
    )


def default_family_stages(project: Path) -> list[str]:
    """Stages of the default env (no ``--env`` in their command), in dvc.yaml order."""
    spec = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    return [name for name, stage in spec.items() if "--env" not in stage["cmd"]]


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = kedro_env()
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"  # the stages call `kedro` from PATH
    return subprocess.run(
        [str(BIN / "dvc"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )


def ran(proc: subprocess.CompletedProcess) -> list[str]:
    return _RAN.findall(proc.stdout + proc.stderr)


def skipped(proc: subprocess.CompletedProcess) -> list[str]:
    return _SKIPPED.findall(proc.stdout + proc.stderr)


def model_versions(project: Path) -> int:
    db = project / "mlflow.db"
    if not db.is_file():
        return 0
    with sqlite3.connect(db) as con:
        if not con.execute(
            "SELECT name FROM sqlite_master WHERE name = 'model_versions'"
        ).fetchone():
            return 0
        return con.execute("SELECT count(*) FROM model_versions").fetchone()[0]


def outs_of(project: Path, stages: list[str]) -> dict[str, str]:
    """md5 + mtime of every file under the given stages' outs (from dvc.yaml)."""
    spec = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    found = {}
    for stage in stages:
        for kind in ("outs", "metrics", "plots"):
            for item in spec[stage].get(kind) or []:
                path = project / (next(iter(item)) if isinstance(item, dict) else item)
                for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
                    if file.is_file():
                        found[str(file.relative_to(project))] = (
                            f"{hashlib.md5(file.read_bytes()).hexdigest()}@{file.stat().st_mtime_ns}"
                        )
    return found


def _fail(step: str, proc: subprocess.CompletedProcess) -> str:
    return f"{step}: rc={proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"


@pytest.fixture(scope="module")
def chain(tmp_path_factory, tiny_bert_dir) -> dict:
    """Run the scenario once; tests below check its recorded steps."""
    project = make_dvc_project(tmp_path_factory.mktemp("dvc") / "proj")
    stages = default_family_stages(project)
    tiny_overrides(project, tiny_bert_dir.parent / "no_such_model")  # train_edit cannot load it
    failed = dvc(project, "repro", *stages)
    record = {"project": project, "stages": stages, "failed": failed}
    record["lock_after_failure"] = (
        yaml.safe_load((project / "dvc.lock").read_text())
        if (project / "dvc.lock").is_file()
        else {}
    )
    record["versions_after_failure"] = model_versions(project)
    record["upstream_outs"] = outs_of(project, UPSTREAM)
    record["upstream_status"] = dvc(project, "status", *UPSTREAM)
    tiny_overrides(project, tiny_bert_dir)  # fixed
    record["resumed"] = dvc(project, "repro", *stages)
    record["upstream_outs_after"] = outs_of(project, UPSTREAM)
    record["versions_after_resume"] = model_versions(project)
    record["status"] = dvc(project, "status", *stages)
    record["again"] = dvc(project, "repro", *stages)
    record["versions_after_again"] = model_versions(project)
    return record


def test_failed_run_keeps_completed_stages_and_registry(chain):
    failed = chain["failed"]
    assert failed.returncode != 0, _fail("the broken run should fail", failed)
    assert ran(failed) == [*UPSTREAM, "train_edit"], _fail("stages run before the failure", failed)
    assert set(chain["lock_after_failure"]["stages"]) == set(UPSTREAM), (
        "dvc.lock should record the completed stages only"
    )
    assert chain["upstream_outs"] and all(
        (chain["project"] / p).is_file() for p in chain["upstream_outs"]
    ), "outputs of completed stages are missing"
    assert "up to date" in chain["upstream_status"].stdout, _fail(
        "completed stages are not up to date", chain["upstream_status"]
    )
    assert chain["versions_after_failure"] == 0, "a failed run registered a model version"


def test_rerun_continues_from_the_failed_stage(chain):
    resumed = chain["resumed"]
    assert resumed.returncode == 0, _fail("the fixed re-run", resumed)
    assert skipped(resumed) == UPSTREAM, _fail("completed stages should be skipped", resumed)
    assert ran(resumed) == chain["stages"][len(UPSTREAM) :], _fail(
        "the failed stage and the rest should run", resumed
    )
    assert chain["upstream_outs_after"] == chain["upstream_outs"], (
        "completed stages' outputs were rewritten"
    )
    assert chain["versions_after_resume"] == 1
    assert "up to date" in chain["status"].stdout, _fail(
        "dvc status after a full run", chain["status"]
    )


def test_repro_with_nothing_changed_does_nothing(chain):
    again = chain["again"]
    assert again.returncode == 0, _fail("repro with nothing changed", again)
    assert ran(again) == [], _fail("nothing should run", again)
    assert sorted(skipped(again)) == sorted(chain["stages"])
    assert chain["versions_after_again"] == 1, "an unchanged repro registered another version"
    # what `relsafe status` reports: the default family's chain is up to date
    from relsafe.dvc_stages import family_target
    from relsafe.registry.status import dvc_status

    got = dvc_status(chain["project"], 300, family_target(chain["project"], None))
    assert got["clean"] is True and got["target"] == "promote", got


def downstream_of(project: Path, start: str) -> set[str]:
    """``start`` and every stage that (transitively) reads its outputs, from dvc.yaml."""
    spec = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    outs = {
        n: {
            next(iter(o)) if isinstance(o, dict) else o
            for k in ("outs", "metrics", "plots")
            for o in s.get(k) or []
        }
        for n, s in spec.items()
    }
    found, todo = {start}, [start]
    while todo:
        produced = outs[todo.pop()]
        for name, stage in spec.items():
            if name not in found and produced & set(stage.get("deps") or []):
                found.add(name)
                todo.append(name)
    return found


def test_policy_edit_reruns_build_sets_onwards_only(chain):
    from relsafe.registry.status import dvc_status

    project = chain["project"]
    policy = project / "conf" / "base" / "safety_policy.yml"
    data = yaml.safe_load(policy.read_text())
    data["classes"]["ALCOHOL"]["lemmas"].append("mead")
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    status = dvc(project, "status", *chain["stages"])
    assert "conf/base/safety_policy.yml" in status.stdout, _fail(
        "dvc status should see the policy edit", status
    )
    got = dvc_status(project, 300, "promote")
    assert got["clean"] is False and "build_sets" in got["changed"], got
    dry = dvc(project, "repro", "--dry", *chain["stages"])
    assert dry.returncode == 0, _fail("dvc repro --dry", dry)
    assert ran(dry)[:1] == ["build_sets"] and "extract_tuples" in skipped(dry), _fail(
        "the plan after a policy edit", dry
    )
    assert set(ran(dry)) <= downstream_of(project, "build_sets"), _fail(
        "only build_sets and later stages", dry
    )
    # Later stages re-run when their inputs change; forcing them shows the whole plan.
    later = set(chain["stages"][1:])
    downstream = downstream_of(project, "build_sets")
    assert later <= downstream, (
        f"stages not downstream of build_sets in dvc.yaml: {sorted(later - downstream)}"
        " (a stage must read an output of the stage before it, or DVC never re-runs it)"
    )
    families = set(yaml.safe_load((project / "dvc.yaml").read_text())["stages"]) - set(
        chain["stages"]
    )
    assert downstream - later == families, "every other family's stage re-runs after a policy edit"
    forced = dvc(project, "repro", "--dry", "--force-downstream", *chain["stages"])
    assert ran(forced) == chain["stages"][1:], _fail("build_sets and every later stage", forced)
