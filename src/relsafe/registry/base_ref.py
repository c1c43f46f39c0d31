"""How a registered model finds its base weights offline, and proves they are the right ones."""

from __future__ import annotations

import json
from pathlib import Path

from relsafe.models.sources import PACKAGE_PREFIX, content_hash, resolve_model_dir, weights_files


class BaseModelMismatch(RuntimeError):
    """The base weights found at load time are not the ones the adapter was trained on."""


def make_base_ref(params: dict) -> dict:
    """A JSON-able reference: the model params plus a sha256 of the base weights."""
    model_dir = resolve_model_dir(params["name_or_path"])
    files = weights_files(model_dir, params.get("gguf_file"))
    return {"params": dict(params), "sha256": content_hash(files), "copy": not str(params["name_or_path"]).startswith(PACKAGE_PREFIX)}


def verify_base(ref: dict, model_dir: Path | str) -> None:
    """Raise :class:`BaseModelMismatch` when the weights' hash differs from ``ref``."""
    expected = ref.get("sha256")
    if not expected:
        return
    actual = content_hash(weights_files(model_dir, ref["params"].get("gguf_file")))
    if actual != expected:
        raise BaseModelMismatch(
            f"base model {ref['params'].get('name_or_path')!r} at {model_dir}: sha256 {actual[:12]}... "
            f"!= {expected[:12]}... recorded at registration; refusing to load a different model"
        )


def write_base_ref(ref: dict, path: Path) -> None:
    path.write_text(json.dumps(ref, indent=2, sort_keys=True))
