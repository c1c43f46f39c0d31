"""Checks on artifact folders: required files present, safetensors readable, bytes unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from relsafe.registry.errors import CorruptArtifact

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_MANIFEST = "manifest.json"
#: Version tags holding the artifacts' checksums (the registry's copy of ``checksums.json``).
CHECKSUMS_DIGEST_TAG, CHECKSUM_TAG_PREFIX = "checksums.sha256", "checksum."
#: Files every registered adapter's checksums must cover.
REQUIRED_ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG, ADAPTER_MANIFEST)


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


def checksums_digest(sums: dict) -> str:
    """sha256 of the canonical JSON of a ``checksums.json`` mapping."""
    return hashlib.sha256(
        json.dumps(sums, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def checksum_tags(sums: dict[str, dict[str, str]]) -> dict[str, str]:
    """Version tags: the digest of all checksums, plus one ``checksum.adapter/<file>`` each."""
    tags = {CHECKSUMS_DIGEST_TAG: checksums_digest(sums)}
    for rel, digest in sorted(sums.get("adapter", {}).items()):
        tags[f"{CHECKSUM_TAG_PREFIX}adapter/{rel}"] = digest
    return tags


def verify_complete(root: str | Path, expected: dict[str, str], label: str) -> None:
    """Checksums must exist and cover every file under ``root`` (an emptied or trimmed
    ``checksums.json`` must not switch the check off)."""
    root = Path(root)
    if not expected:
        raise CorruptArtifact(
            f"{label} artifact at {root}: no checksums recorded (empty or removed)"
        )
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    unlisted = sorted(present - set(expected))
    if unlisted:
        raise CorruptArtifact(f"{label} artifact at {root}: files without a checksum: {unlisted}")
    if label == "adapter":
        absent = [f for f in REQUIRED_ADAPTER_FILES if f not in expected]
        if absent:
            raise CorruptArtifact(f"adapter artifact at {root}: checksums lack {absent}")


def read_manifest(directory: str | Path) -> dict:
    """The adapter's ``manifest.json``; missing, empty or not a JSON object is CorruptArtifact."""
    path = Path(directory) / ADAPTER_MANIFEST
    if not path.is_file():
        raise CorruptArtifact(f"adapter folder {Path(directory)} has no {ADAPTER_MANIFEST}")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise CorruptArtifact(f"adapter manifest {path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or not manifest:
        raise CorruptArtifact(f"adapter manifest {path} is empty")
    return manifest


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
    read_manifest(directory)
