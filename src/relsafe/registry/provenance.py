"""Where a model version came from: git commit, DVC data hash, policy hash, params, metrics."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

#: Registry tag values are stored in a bounded column; params beyond this are truncated.
MAX_TAG_CHARS = 5000


def git_commit(root: str | Path = ".") -> str:
    """``git rev-parse HEAD`` (with ``-dirty`` when tracked files changed); ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else (head or "unknown")


def dvc_data_hash(root: str | Path = ".") -> str:
    """sha256 over every (stage, deps/outs, path, md5) in ``dvc.lock``; ``none`` when absent."""
    lock = Path(root) / "dvc.lock"
    if not lock.is_file():
        return "none"
    try:
        data = yaml.safe_load(lock.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{lock}: not valid YAML ({exc})") from exc
    lines = []
    for stage, body in sorted((data.get("stages") or {}).items()):
        for kind in ("deps", "outs"):
            for entry in (body or {}).get(kind) or []:
                digest = entry.get("md5") or entry.get("hash") or ""
                lines.append(f"{stage}\t{kind}\t{entry.get('path')}\t{digest}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def clip(value: str, limit: int = MAX_TAG_CHARS) -> str:
    return value if len(value) <= limit else value[: limit - 14] + "...[truncated]"


def version_tags(
    manifest: dict,
    model_params: dict,
    metrics: dict,
    headline: list[str],
    root: str | Path = ".",
) -> dict[str, str]:
    """Tags for a new model version (all strings)."""
    tags = {
        "family": str(model_params.get("family", manifest.get("family", "unknown"))),
        "base_model": str(model_params.get("name_or_path")),
        "git_commit": git_commit(root),
        "dvc_data_hash": dvc_data_hash(root),
        "policy_sha256": str(manifest.get("policy_sha256") or "unknown"),
        "params": clip(
            json.dumps(
                {"model": model_params, "train": manifest.get("params", {})},
                sort_keys=True,
                default=str,
            )
        ),
    }
    if manifest.get("base_sha256"):
        tags["base_sha256"] = str(manifest["base_sha256"])
    missing = [k for k in headline if k not in metrics]
    if missing:  # tagged and logged, not fatal: promotion gates fail on missing metrics anyway
        logger.warning(
            "register.headline_metrics %s are not in metrics.json (keys: %s)",
            missing,
            sorted(metrics),
        )
        tags["metric.missing"] = ",".join(missing)
    tags.update({f"metric.{k}": repr(float(metrics[k])) for k in headline if k in metrics})
    return tags
