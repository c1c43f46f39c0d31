"""What both pyfunc wrappers do on load: read the refs, check every byte, find the base."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from relsafe.registry.base_ref import load_params, read_base_ref
from relsafe.registry.errors import CorruptArtifact
from relsafe.registry.integrity import (
    CHECKSUMS_DIGEST_TAG,
    checksums_digest,
    validate_adapter_dir,
    verify_checksums,
    verify_complete,
)

logger = logging.getLogger(__name__)

#: Artifact keys of a registered relsafe model.
ADAPTER, BASE_REF, CHECKSUMS, BASE_MODEL = "adapter", "base_ref", "checksums", "base_model"


def checked_load_params(artifacts: dict[str, str]) -> tuple[dict, Path]:
    """Model params (pointed at the copied base, if any) and the adapter folder, both verified.

    Raises:
        CorruptArtifact: an artifact is missing, or its bytes differ from registration.
    """
    missing = [k for k in (ADAPTER, BASE_REF, CHECKSUMS) if k not in artifacts]
    if missing:
        raise CorruptArtifact(
            f"registered model lacks artifacts {missing}; it was not logged by relsafe.registry"
        )
    try:
        sums = json.loads(Path(artifacts[CHECKSUMS]).read_text())
    except (OSError, ValueError) as exc:
        raise CorruptArtifact(
            f"registered model artifact {artifacts[CHECKSUMS]}: cannot read checksums ({exc})"
        ) from exc
    if not isinstance(sums, dict) or not isinstance(sums.get(ADAPTER), dict):
        raise CorruptArtifact(
            f"registered model artifact {artifacts[CHECKSUMS]}: no adapter checksums "
            "(empty or edited checksums.json)"
        )
    verify_registry_digest(Path(artifacts[CHECKSUMS]), sums)
    adapter = Path(artifacts[ADAPTER])
    verify_complete(adapter, sums[ADAPTER], label="adapter")
    verify_checksums(adapter, sums[ADAPTER], label="adapter")
    validate_adapter_dir(adapter)
    if BASE_MODEL in artifacts:
        base = Path(artifacts[BASE_MODEL])
        if not sums.get(BASE_MODEL):
            raise CorruptArtifact(
                f"registered model artifact {artifacts[CHECKSUMS]}: no checksums for the copied base"
            )
        if base.is_file():
            verify_checksums(
                base.parent, {base.name: next(iter(sums[BASE_MODEL].values()))}, label="base_model"
            )
        else:
            verify_complete(base, sums[BASE_MODEL], label="base_model")
            verify_checksums(base, sums[BASE_MODEL], label="base_model")
    ref = read_base_ref(artifacts[BASE_REF])
    return load_params(ref, artifacts), adapter


def _logged_model_ids(checksums_path: Path) -> tuple[str | None, str | None]:
    """(run_id, model_id) from the ``MLmodel`` file of the model these artifacts belong to."""
    import yaml

    for parent in checksums_path.parents:
        mlmodel = parent / "MLmodel"
        if mlmodel.is_file():
            try:
                meta = yaml.safe_load(mlmodel.read_text()) or {}
            except (OSError, yaml.YAMLError):
                return None, None
            return meta.get("run_id"), meta.get("model_id")
    return None, None


def verify_registry_digest(checksums_path: Path, sums: dict) -> None:
    """Compare ``checksums.json`` with the ``checksums.sha256`` tag of every registered version
    of this logged model, so editing the file in the artifact store cannot pass.

    Models not registered yet (the registration smoke test) have no versions to compare with.

    Raises:
        CorruptArtifact: a version's tag differs from the artifact's checksums.
        RegistryUnreachable: an http(s) registry does not answer.
    """
    run_id, model_id = _logged_model_ids(checksums_path)
    if not run_id:
        return
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from relsafe.registry.aliases import ensure_reachable

    ensure_reachable()
    try:
        versions = MlflowClient().search_model_versions(f"run_id = '{run_id}'")
    except MlflowException as exc:  # a store without a registry (plain file store)
        logger.warning("cannot list registered versions of run %s: %s", run_id, exc)
        return
    digest = checksums_digest(sums)
    for mv in versions:
        if model_id and getattr(mv, "model_id", None) and mv.model_id != model_id:
            continue
        expected = (mv.tags or {}).get(CHECKSUMS_DIGEST_TAG)
        if expected is None:
            logger.warning(
                "%s v%s has no %s tag (registered before it was recorded)",
                mv.name,
                mv.version,
                CHECKSUMS_DIGEST_TAG,
            )
            continue
        if expected != digest:
            raise CorruptArtifact(
                f"{mv.name} v{mv.version}: checksums.json in the artifact store differs from the "
                f"checksums recorded in the registry ({CHECKSUMS_DIGEST_TAG} tag); refusing to load"
            )
