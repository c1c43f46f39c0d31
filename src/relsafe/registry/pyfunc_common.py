"""What both pyfunc wrappers do on load: read the refs, check every byte, find the base."""

from __future__ import annotations

import json
from pathlib import Path

from relsafe.registry.base_ref import load_params, read_base_ref
from relsafe.registry.errors import CorruptArtifact
from relsafe.registry.integrity import validate_adapter_dir, verify_checksums

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
    adapter = Path(artifacts[ADAPTER])
    verify_checksums(adapter, sums.get(ADAPTER, {}), label="adapter")
    validate_adapter_dir(adapter)
    if BASE_MODEL in artifacts and sums.get(BASE_MODEL):
        base = Path(artifacts[BASE_MODEL])
        if base.is_file():
            verify_checksums(
                base.parent, {base.name: next(iter(sums[BASE_MODEL].values()))}, label="base_model"
            )
        else:
            verify_checksums(base, sums[BASE_MODEL], label="base_model")
    ref = read_base_ref(artifacts[BASE_REF])
    return load_params(ref, artifacts), adapter
