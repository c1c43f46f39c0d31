"""Version tags: git commit, dvc.lock data hash, policy hash, params, headline metrics."""

from __future__ import annotations

import json

from relsafe.registry.provenance import MAX_TAG_CHARS, dvc_data_hash, git_commit, version_tags

LOCK = """schema: '2.0'
stages:
  build_sets:
    cmd: kedro run --pipeline build_sets
    deps:
    - path: data/03_primary/caption_tuples.parquet
      hash: md5
      md5: aaa
    outs:
    - path: data/05_model_input/forget_set.parquet
      hash: md5
      md5: bbb
"""


def test_git_commit_outside_git_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"


def test_dvc_hash_none_when_absent_and_tracks_md5s(tmp_path):
    assert dvc_data_hash(tmp_path) == "none"
    (tmp_path / "dvc.lock").write_text(LOCK)
    first = dvc_data_hash(tmp_path)
    assert first != "none" and len(first.split("-")[0]) == 32
    (tmp_path / "dvc.lock").write_text(LOCK.replace("bbb", "ccc"))
    assert dvc_data_hash(tmp_path) == first, "outputs are not data inputs"
    (tmp_path / "dvc.lock").write_text(LOCK.replace("aaa", "ccc"))
    assert dvc_data_hash(tmp_path) != first


def test_version_tags(tmp_path):
    manifest = {
        "policy_sha256": "f" * 64,
        "base_sha256": "b" * 64,
        "params": {"steps": 3, "blob": "x" * 9000},
    }
    tags = version_tags(
        manifest,
        {"family": "encoder", "name_or_path": "m"},
        {"unsafe_r5": 0.25, "benign_r1": 0.5},
        ["unsafe_r5", "nope"],
        tmp_path,
    )
    assert tags["git_commit"] == "unknown" and tags["dvc_data_hash"] == "none"
    assert tags["policy_sha256"] == "f" * 64 and tags["family"] == "encoder"
    assert float(tags["metric.unsafe_r5"]) == 0.25 and "metric.benign_r1" not in tags
    assert tags["metric.missing"] == "nope"
    assert len(tags["params"]) <= MAX_TAG_CHARS and tags["params"].endswith("[truncated]")
    small = version_tags({"params": {"steps": 3}}, {"name_or_path": "m"}, {}, [], tmp_path)
    assert json.loads(small["params"])["train"] == {"steps": 3}
