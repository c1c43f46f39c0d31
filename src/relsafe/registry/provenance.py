"""Where a model version came from: git commit, DVC data hash, policy hash, params, metrics."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

from relsafe.tools.dvc_lock import data_hash, data_inputs

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
    """Hash of the data inputs recorded in ``dvc.lock`` (corpus, policy); ``none`` without it.

    Delegates to :func:`relsafe.tools.dvc_lock.data_hash`, which covers data files only (not
    code or registry-side outputs) so identical data gives the same hash run after run.
    """
    return data_hash(root)


def data_tags(root: str | Path = ".") -> dict[str, str]:
    """``data.<path>: md5`` for the external inputs and for what train_edit read."""
    tags: dict[str, str] = {}
    for stage in (None, "train_edit"):
        try:
            tags.update({f"data.{path}": md5 for path, md5 in data_inputs(root, stage).items()})
        except (KeyError, ValueError):  # no dvc.lock, or no such stage in it
            continue
    return tags


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
        **data_tags(root),
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
    tags.update(metric_tags(metrics, headline))
    return tags


def metric_tags(metrics: dict, headline: list[str]) -> dict[str, str]:
    """``metric.<name>`` for each headline metric, and ``metric.missing`` for absent ones."""
    tags = {}
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
