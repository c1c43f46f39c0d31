"""Helpers shared by tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def kedro_env() -> dict[str, str]:
    """Environment for subprocess runs: offline, no telemetry."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")  # the project's conf decides
    }
    env.update(
        KEDRO_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
    )
    return env


def bind_metrics(
    metrics: dict,
    adapter_dir,
    eval_set_sha256: str = "e" * 64,
    policy_sha256: str | None = None,
    variant: str = "edit",
) -> dict:
    """``metrics`` plus the ``binding`` block evaluate_edit writes for the adapter in
    ``adapter_dir`` (scored as ``variant``)."""
    import json

    from relsafe.editing.adapter_io import adapter_dir_hash
    from relsafe.registry.binding import BINDING_KEY, PREFIXES

    manifest = json.loads((Path(adapter_dir) / "manifest.json").read_text())
    binding = {
        "family": manifest.get("family", "encoder"),
        "eval_set_sha256": eval_set_sha256,
        "policy_sha256": policy_sha256 or manifest.get("policy_sha256", ""),
        "adapters": {
            variant: {
                "sha256": adapter_dir_hash(adapter_dir),
                "kind": manifest.get("kind", variant),
                "prefix": PREFIXES.get(variant, ""),
            }
        },
    }
    return {**metrics, BINDING_KEY: binding}
