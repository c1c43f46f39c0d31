"""A user-supplied folder of images with captions, labelled against the safety policy.

Layout (``evaluate_edit.image_folder``)::

    image_folder:
      dir: data/01_raw/policy_images        # the images (png / jpg / ...)
      captions: captions.csv                # in dir (or a path); columns below
      image_column: file                    # file name relative to dir
      caption_column: caption
      label_column: label                   # optional: unsafe | benign per row

Each row is ``unsafe`` when its label says so or, without a label column, when a tuple the
spaCy extractor finds in its caption matches a policy rule (:mod:`relsafe.policy.matching`).
The CLIP image-side metrics and the VLM's image+text / benign-image modalities use these
images in place of the bundled sample photos and rendered scene cards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

UNSAFE_LABELS = {"unsafe", "harmful", "1", "true", "yes"}
BENIGN_LABELS = {"benign", "safe", "0", "false", "no"}
KEYS = {"dir", "captions", "image_column", "caption_column", "label_column"}


def folder_spec(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``image_folder`` block with defaults, or None when no folder is configured."""
    if not block or not block.get("dir"):
        return None
    unknown = sorted(set(block) - KEYS)
    if unknown:
        raise ValueError(
            f"evaluate_edit.image_folder: unknown key(s) {unknown}; expected {sorted(KEYS)}"
        )
    return {
        "dir": str(block["dir"]),
        "captions": str(block.get("captions") or "captions.csv"),
        "image_column": str(block.get("image_column") or "file"),
        "caption_column": str(block.get("caption_column") or "caption"),
        "label_column": str(block.get("label_column") or "label"),
    }


def _captions_path(spec: Mapping[str, Any]) -> Path:
    path = Path(spec["captions"])
    return path if path.is_absolute() or path.exists() else Path(spec["dir"]) / path


def load_image_folder(
    block: Mapping[str, Any] | None, policy_data: dict | None = None, labels: bool = True
) -> pd.DataFrame | None:
    """``path, caption, unsafe, rule_id`` per image (None when no folder is configured).

    Raises:
        ValueError: a missing folder, captions file or column, or a listed image that does
            not exist (naming the file and row); a label that is neither unsafe nor benign.
    """
    spec = folder_spec(block)
    if spec is None:
        return None
    root = Path(spec["dir"])
    if not root.is_dir():
        raise ValueError(f"evaluate_edit.image_folder.dir: {root} is not a folder")
    cap_path = _captions_path(spec)
    if not cap_path.is_file():
        raise ValueError(f"evaluate_edit.image_folder.captions: {cap_path} does not exist")
    frame = pd.read_csv(cap_path)
    for col in (spec["image_column"], spec["caption_column"]):
        if col not in frame.columns:
            raise ValueError(f"{cap_path}: no column {col!r}; columns are {list(frame.columns)}")
    paths = [root / str(f) for f in frame[spec["image_column"]]]
    missing = [(i, str(p)) for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        raise ValueError(f"{cap_path}: image file(s) not found: {missing[:10]} (row, path)")
    captions = frame[spec["caption_column"]].fillna("").astype(str).tolist()
    empty = [i for i, c in enumerate(captions) if not c.strip()]
    if empty:
        raise ValueError(f"{cap_path}: empty caption in row(s) {empty[:10]}")
    out = pd.DataFrame({"path": [str(p) for p in paths], "caption": captions})
    if not labels:  # CLIP retrieval needs captions only
        return out
    if spec["label_column"] in frame.columns:
        labels = frame[spec["label_column"]].fillna("").astype(str).str.strip().str.lower()
        bad = [i for i, v in enumerate(labels) if v not in UNSAFE_LABELS | BENIGN_LABELS]
        if bad:
            raise ValueError(
                f"{cap_path}: column {spec['label_column']!r} in row(s) {bad[:10]} is neither "
                f"unsafe ({sorted(UNSAFE_LABELS)}) nor benign ({sorted(BENIGN_LABELS)})"
            )
        out["unsafe"] = labels.isin(UNSAFE_LABELS).to_numpy()
        out["rule_id"] = ""
    else:
        out["unsafe"], out["rule_id"] = _policy_labels(captions, policy_data)
    return out


def _policy_labels(captions: list[str], policy_data: dict | None) -> tuple[list[bool], list[str]]:
    """(unsafe, first matching rule id) per caption, from the policy's rules."""
    if not policy_data:
        raise ValueError(
            "evaluate_edit.image_folder: without a label column the captions are matched "
            "against the safety policy, which was not given"
        )
    from relsafe.oro import TupleExtractor
    from relsafe.policy import load_policy
    from relsafe.policy.matching import Matcher

    policy = load_policy(policy_data, source="safety_policy")
    matcher = Matcher(policy)
    unsafe, rules = [], []
    for tuples in TupleExtractor().extract(captions):
        hits = matcher.match_all(tuples)
        unsafe.append(bool(hits))
        rules.append(str(hits[0].rule_id) if hits else "")
    return unsafe, rules


def folder_digest(block: Mapping[str, Any] | None) -> str:
    """sha256 over the captions file and every image file ("" without a folder)."""
    spec = folder_spec(block)
    if spec is None:
        return ""
    h = hashlib.sha256()
    root = Path(spec["dir"])
    files = [_captions_path(spec), *sorted(p for p in root.rglob("*") if p.is_file())]
    for f in dict.fromkeys(files):
        if f.is_file():
            h.update(str(f.relative_to(root) if f.is_relative_to(root) else f.name).encode())
            h.update(f.read_bytes())
    return h.hexdigest()
