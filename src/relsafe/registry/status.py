"""What is registered and whether the data is in sync: registry overview and ``dvc status``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from relsafe.registry.lock import LOCK_SUFFIX
from relsafe.registry.promotion import DECISION_TAG, LAST_TAG, ROLLED_BACK_TAG, TIME_TAG


def _json_tag(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def registry_status(
    client: MlflowClient, names: list[str] | None = None, max_versions: int = 10
) -> list[dict[str, Any]]:
    """Each registered model (promotion locks left out): aliases, newest versions with their
    data / policy hashes and promotion decisions, and the last decision."""
    models = [
        m
        for m in client.search_registered_models(max_results=1000)
        if not m.name.endswith(LOCK_SUFFIX) and (names is None or m.name in names)
    ]
    out = []
    for model in sorted(models, key=lambda m: m.name):
        aliases = {k: str(v) for k, v in (getattr(model, "aliases", {}) or {}).items()}
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        versions = client.search_model_versions(
            f"name='{model.name}'", max_results=max_versions, order_by=["version_number DESC"]
        )
        rows = []
        for mv in versions:
            tags = dict(mv.tags or {})
            rows.append(
                {
                    "version": str(mv.version),
                    "aliases": sorted(by_version.get(str(mv.version), [])),
                    "created": int(mv.creation_timestamp or 0),
                    "status": mv.status,
                    "family": tags.get("family", "unknown"),
                    "dvc_data_hash": tags.get("dvc_data_hash", "unknown"),
                    "policy_sha256": tags.get("policy_sha256", "unknown"),
                    "git_commit": tags.get("git_commit", "unknown"),
                    "decision": tags.get(DECISION_TAG),
                    "decision_time": tags.get(TIME_TAG),
                    "rolled_back": tags.get(ROLLED_BACK_TAG),
                }
            )
        out.append(
            {
                "name": model.name,
                "aliases": aliases,
                "versions": rows,
                "last_decision": _json_tag((model.tags or {}).get(LAST_TAG)),
            }
        )
    return out


def dvc_status(
    root: str | Path, timeout_s: float = 120, target: str | None = None
) -> dict[str, Any]:
    """``dvc status --json`` in ``root`` (with ``target``: that stage and every stage it reads
    from, one family's chain): ``clean`` is True / False, or None when DVC is not installed,
    ``root`` is not a DVC repository or the command failed (``message`` says why)."""
    cmd = [sys.executable, "-m", "dvc", "status", "--json"]  # --quiet would print no JSON
    if target:
        cmd += ["--with-deps", target]
    try:
        proc = subprocess.run(
            cmd, cwd=root, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return {"clean": None, "changed": [], "message": f"dvc status took over {timeout_s:g} s"}
    except OSError as exc:
        return {"clean": None, "changed": [], "message": f"could not run dvc: {exc}"}
    err = (proc.stderr or "").strip()
    if proc.returncode != 0:
        if "No module named dvc" in err:
            return {"clean": None, "changed": [], "message": "dvc is not installed"}
        last = err.splitlines()[-1] if err else f"exit code {proc.returncode}"
        return {"clean": None, "changed": [], "message": f"dvc status failed: {last}"}
    try:
        changed = json.loads(proc.stdout or "{}")
    except ValueError:
        return {"clean": None, "changed": [], "message": "dvc status printed no JSON"}
    stages = sorted(changed) if isinstance(changed, dict) else []
    scope = f" (stage {target} and its inputs)" if target else ""
    return {
        "clean": not stages,
        "changed": stages,
        "target": target,
        "message": f"data and pipelines are up to date{scope}"
        if not stages
        else f"{len(stages)} stage(s) or file(s) changed{scope}: {', '.join(stages)}",
    }


__all__ = ["dvc_status", "registry_status"]
