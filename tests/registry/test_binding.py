"""Metrics bound to their adapter, baselines refused, checksums the registry also records."""

from __future__ import annotations

import json
import shutil

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from tests_support import bind_metrics

from relsafe.editing import AdapterBundle
from relsafe.editing.adapter_io import adapter_dir_hash
from relsafe.registry.binding import comparable
from relsafe.registry.errors import CorruptArtifact, RegistrationFailed
from relsafe.registry.integrity import CHECKSUMS_DIGEST_TAG, file_checksums
from relsafe.registry.register import register_model

NAME = "relsafe-encoder"


def other_adapter(src, dest, kind: str = "edit"):
    """A copy of the adapter at ``src`` with other weights (and manifest kind ``kind``)."""
    bundle = AdapterBundle.load(src)
    bundle.state_dict = {k: v * 1.5 for k, v in bundle.state_dict.items()}
    bundle.manifest = {**bundle.manifest, "kind": kind}
    bundle.save(dest)
    return dest


def test_content_hash_is_the_same_in_memory_and_on_disk(encoder_adapter_dir, tmp_path):
    bundle = AdapterBundle.load(encoder_adapter_dir)
    assert bundle.content_hash() == adapter_dir_hash(encoder_adapter_dir)
    bundle.save(tmp_path / "again")
    assert adapter_dir_hash(tmp_path / "again") == bundle.content_hash()
    assert adapter_dir_hash(other_adapter(encoder_adapter_dir, tmp_path / "o")) != (
        bundle.content_hash()
    )


def test_metrics_of_another_adapter_are_refused(
    sqlite_registry, tmp_path, encoder_adapter_dir, encoder_params
):
    """Issue 18 item 1: any adapter registered with whatever metrics.json lay around."""
    metrics = bind_metrics({"unsafe_r5": 0.01}, encoder_adapter_dir)
    other = other_adapter(encoder_adapter_dir, tmp_path / "other")
    with pytest.raises(RegistrationFailed, match="not on this adapter"):
        register_model(other, encoder_params, NAME, metrics=metrics, smoke_test=False)
    with pytest.raises(RegistrationFailed, match="no 'binding' block"):
        register_model(other, encoder_params, NAME, metrics={"unsafe_r5": 0.01}, smoke_test=False)
    assert MlflowClient().search_registered_models() == []


def test_baseline_needs_explicit_consent(
    sqlite_registry, tmp_path, encoder_adapter_dir, encoder_params
):
    baseline = other_adapter(encoder_adapter_dir, tmp_path / "baseline", kind="baseline")
    metrics = {
        **bind_metrics({"unsafe_r5": 0.01}, encoder_adapter_dir),
        "baseline_unsafe_r5": 0.4,
    }
    scored = bind_metrics({}, baseline, variant="baseline")["binding"]["adapters"]
    metrics["binding"]["adapters"].update(scored)
    with pytest.raises(RegistrationFailed, match="concept-erasure baseline"):
        register_model(baseline, encoder_params, NAME, metrics=metrics, smoke_test=False)
    with pytest.raises(RegistrationFailed, match="concept-erasure baseline"):
        register_model(baseline, encoder_params, NAME, smoke_test=False)
    info = register_model(
        baseline,
        encoder_params,
        NAME,
        metrics=metrics,
        smoke_test=False,
        allow_baseline=True,
        headline_metrics=["unsafe_r5"],
    )
    tags = MlflowClient().get_model_version(NAME, info["version"]).tags
    assert tags["adapter_kind"] == "baseline"
    assert float(tags["metric.unsafe_r5"]) == pytest.approx(0.4)  # its own, not the edit's


def test_edit_registration_records_binding_and_checksum_tags(
    sqlite_registry, encoder_adapter_dir, encoder_params
):
    metrics = bind_metrics({"unsafe_r5": 0.01, "baseline_unsafe_r5": 0.4}, encoder_adapter_dir)
    info = register_model(
        encoder_adapter_dir,
        encoder_params,
        NAME,
        metrics=metrics,
        smoke_test=False,
        headline_metrics=["unsafe_r5"],
    )
    tags = MlflowClient().get_model_version(NAME, info["version"]).tags
    assert tags["adapter_sha256"] == adapter_dir_hash(encoder_adapter_dir)
    assert tags["adapter_kind"] == "edit" and tags["eval_set_sha256"] == "e" * 64
    assert float(tags["metric.unsafe_r5"]) == pytest.approx(0.01)
    sums = file_checksums(encoder_adapter_dir)
    assert tags["checksum.adapter/adapter_model.safetensors"] == sums["adapter_model.safetensors"]
    assert len(tags[CHECKSUMS_DIGEST_TAG]) == 64


def stored(tmp_path, name: str):
    return next((tmp_path / "mlruns").rglob(name))


def test_emptied_checksums_file_does_not_disable_the_check(
    sqlite_registry, tmp_path, encoder_adapter_dir, encoder_params
):
    """Issue 18 item 4: `{}` in checksums.json let a corrupted adapter load."""
    register_model(encoder_adapter_dir, encoder_params, NAME, smoke_test=False)
    weights = stored(tmp_path, "adapter/adapter_model.safetensors")
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    stored(tmp_path, "checksums.json").write_text("{}")
    with pytest.raises(CorruptArtifact, match="no adapter checksums"):
        mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")


def test_rewritten_checksums_file_is_caught_by_the_registry_tags(
    sqlite_registry, tmp_path, encoder_adapter_dir, encoder_params
):
    register_model(encoder_adapter_dir, encoder_params, NAME, smoke_test=False)
    weights = stored(tmp_path, "adapter/adapter_model.safetensors")
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    path = stored(tmp_path, "checksums.json")
    sums = json.loads(path.read_text())
    sums["adapter"] = file_checksums(weights.parent)  # consistent with the tampered bytes
    path.write_text(json.dumps(sums))
    with pytest.raises(
        CorruptArtifact, match="differs from the checksums recorded in the registry"
    ):
        mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")


@pytest.mark.parametrize("manifest", [None, "{}", "[]"])
def test_missing_or_empty_manifest_is_corrupt(
    sqlite_registry, tmp_path, encoder_adapter_dir, encoder_params, manifest
):
    broken = tmp_path / "broken"
    shutil.copytree(encoder_adapter_dir, broken)
    if manifest is None:
        (broken / "manifest.json").unlink()
    else:
        (broken / "manifest.json").write_text(manifest)
    with pytest.raises(CorruptArtifact, match="manifest"):
        register_model(broken, encoder_params, NAME, smoke_test=False)


def test_comparable():
    same = {"eval_set_sha256": "a", "policy_sha256": "b"}
    assert comparable(same, same) is None
    assert "different eval set" in comparable(same, {**same, "eval_set_sha256": "c"})
    assert "champion has no policy hash" in comparable(same, {"eval_set_sha256": "a"})
