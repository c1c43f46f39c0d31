"""Checks on artifact folders: required files present, safetensors readable, bytes unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from relsafe.registry.errors import CorruptArtifact

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_checksums(root: str | Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` for every file under ``root``."""
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def verify_checksums(root: str | Path, expected: dict[str, str], label: str) -> None:
    """Raise :class:`CorruptArtifact` naming every missing or changed file under ``root``."""
    root = Path(root)
    problems = []
    for rel, digest in sorted(expected.items()):
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: sha256 differs from registration")
    if problems:
        raise CorruptArtifact(f"{label} artifact at {root}: " + "; ".join(problems))


def validate_adapter_dir(directory: str | Path) -> None:
    """An adapter folder must hold readable safetensors weights and a JSON peft config.

    Only the safetensors header is parsed (no tensors are materialised, nothing unpickled).
    """
    from safetensors import safe_open

    directory = Path(directory)
    if not directory.is_dir():
        raise CorruptArtifact(f"adapter folder {directory} does not exist")
    for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
        if not (directory / name).is_file():
            raise CorruptArtifact(f"adapter folder {directory} has no {name}")
    pickles = sorted(
        p.name for p in directory.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pickle")
    )
    if pickles:
        raise CorruptArtifact(
            f"adapter folder {directory} holds pickle files {pickles}; only safetensors are allowed"
        )
    try:
        with safe_open(str(directory / ADAPTER_WEIGHTS), framework="pt") as fh:
            keys = list(fh.keys())
    except Exception as exc:
        raise CorruptArtifact(
            f"adapter weights {directory / ADAPTER_WEIGHTS} are not valid safetensors: {exc}"
        ) from exc
    if not keys:
        raise CorruptArtifact(f"adapter weights {directory / ADAPTER_WEIGHTS} hold no tensors")
    try:
        config = json.loads((directory / ADAPTER_CONFIG).read_text())
    except ValueError as exc:
        raise CorruptArtifact(
            f"adapter config {directory / ADAPTER_CONFIG} is not valid JSON: {exc}"
        ) from exc
    if not isinstance(config, dict) or "peft_type" not in config:
        raise CorruptArtifact(f"adapter config {directory / ADAPTER_CONFIG} has no peft_type")
