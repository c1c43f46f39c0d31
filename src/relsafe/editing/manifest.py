"""The adapter manifest: what base, policy, data and params an adapter was trained from."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from relsafe.models.sources import content_hash, resolve_model_dir, weights_files


def frame_hash(*frames: pd.DataFrame, columns: Iterable[str] | None = None) -> str:
    """sha256 over the (selected) columns of each frame, row order included.

    Stable across pandas versions: rows are serialised as JSON, not pickled.
    """
    h = hashlib.sha256()
    wanted = list(columns) if columns is not None else None
    for frame in frames:
        cols = [c for c in (wanted or sorted(frame.columns)) if c in frame.columns]
        h.update(json.dumps(cols).encode())
        for row in frame[cols].itertuples(index=False, name=None):
            h.update(json.dumps(row, default=str).encode())
            h.update(b"\n")
        h.update(b"\x00")
    return h.hexdigest()


def base_model_hash(model_params: Mapping[str, Any]) -> str:
    """sha256 of the base weights' files ("" for a hub id we only find in the HF cache)."""
    model_dir = resolve_model_dir(str(model_params["name_or_path"]))
    return content_hash(weights_files(model_dir, model_params.get("gguf_file")))


def params_fingerprint(*parts: Any) -> str:
    """sha256 of JSON-able parts (params, hashes): checkpoints resume only on a match."""
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def build_manifest(
    *,
    kind: str,
    model_params: Mapping[str, Any],
    base_sha256: str,
    policy_sha256: str,
    data_sha256: str,
    params: Mapping[str, Any],
    trainable_share: float,
    trainable_params: int,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest.json written next to the adapter weights."""
    import peft
    import torch
    import transformers

    return {
        "kind": kind,  # "edit" | "baseline"
        "family": model_params.get("family", "encoder"),
        "base_model": str(model_params.get("name_or_path")),
        "base_gguf_file": model_params.get("gguf_file"),
        "base_sha256": base_sha256,
        "policy_sha256": policy_sha256,
        "data_sha256": data_sha256,
        "model_params": dict(model_params),
        "params": dict(params),
        "trainable_share": float(trainable_share),
        "trainable_params": int(trainable_params),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "python": platform.python_version(),
        },
        **dict(extra or {}),
    }
