"""Read ``dvc.lock``: the data hashes a run saw, for MLflow tags on runs and model versions.

No Kedro, no DVC import (``dvc.lock`` is plain YAML), so ``relsafe.registry`` may use it.
A hash recorded here appears verbatim in ``dvc.lock``, so ``git log -S <md5> -- dvc.lock``
finds the commit whose data produced a registered adapter.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

LOCK_FILE = "dvc.lock"
#: Returned by :func:`data_hash` when there is no ``dvc.lock`` (or it records no data).
NO_HASH = "none"
#: Appended to :func:`data_hash` when a recorded file no longer matches the workspace
#: (the pipeline ran outside ``dvc repro`` after data changed).
DIRTY_SUFFIX = "-dirty"
_CODE_ROOTS = ("src",)


def _load_stages(project_root: Path) -> dict[str, dict]:
    lock = Path(project_root) / LOCK_FILE
    if not lock.is_file():
        return {}
    data = yaml.safe_load(lock.read_text()) or {}
    stages = data.get("stages") or {}
    if not isinstance(stages, dict):
        raise ValueError(f"{lock}: 'stages' is not a mapping")
    return stages


def _is_code(path: str) -> bool:
    return Path(path).parts[:1] in {(root,) for root in _CODE_ROOTS}


def data_inputs(project_root: Path | str, stage: str | None = None) -> dict[str, str]:
    """``{path: md5}`` of data as recorded in ``dvc.lock``; ``{}`` without a lock.

    Args:
        project_root: folder holding ``dvc.lock``.
        stage: ``None`` for the external inputs of the whole chain (deps no stage produces:
            raw corpora, the safety policy); a stage name (e.g. ``"train_edit"``) for the data
            deps of that stage (e.g. the forget/retain sets an adapter was trained on).
    """
    stages = _load_stages(Path(project_root))
    if stage is not None:
        if stage not in stages:
            return {}
        chosen = [stages[stage]]
        produced: set[str] = set()
    else:
        chosen = list(stages.values())
        produced = {o["path"] for s in chosen for o in s.get("outs") or []}
    found: dict[str, str] = {}
    for entry in chosen:
        for dep in entry.get("deps") or []:
            path, md5 = dep.get("path"), dep.get("md5")
            if path and md5 and path not in produced and not _is_code(path):
                found[path] = md5
    return dict(sorted(found.items()))


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(project_root: Path, path: str, md5: str) -> bool | None:
    """Whether the workspace still holds the recorded data; ``None`` if it cannot be told cheaply."""
    target = project_root / path
    if not md5.endswith(".dir"):
        return target.is_file() and _file_md5(target) == md5
    manifest = project_root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    if not target.is_dir() or not manifest.is_file():
        return None
    entries = json.loads(manifest.read_text())
    listed = {e["relpath"] for e in entries}
    on_disk = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    if listed != on_disk:
        return False
    return all(_file_md5(target / e["relpath"]) == e["md5"] for e in entries)


def data_hash(project_root: Path | str, stage: str | None = None, verify: bool = True) -> str:
    """One md5 over :func:`data_inputs` (sorted ``path:md5`` lines); ``"none"`` without a lock.

    With ``verify``, files (and folders whose manifest is in the DVC cache) are re-hashed and
    ``"-dirty"`` is appended when the workspace no longer matches the lock.
    """
    root = Path(project_root)
    inputs = data_inputs(root, stage)
    if not inputs:
        return NO_HASH
    digest = hashlib.md5("".join(f"{p}:{m}\n" for p, m in inputs.items()).encode()).hexdigest()
    if verify and any(_matches(root, p, m) is False for p, m in inputs.items()):
        return digest + DIRTY_SUFFIX
    return digest
