"""One entry point per adapter kind: load the base for ``model.family``, build the manifest
fields, train (or, for a disabled baseline, write an untrained identity adapter).

Kedro nodes and benchmarks call :func:`run_edit`; nothing here imports Kedro.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from relsafe.editing.adapter_io import AdapterBundle
from relsafe.editing.lora import trainable_count, trainable_share
from relsafe.editing.manifest import base_model_hash, build_manifest
from relsafe.editing.trainer import MetricCallback, StepCallback

logger = logging.getLogger(__name__)

KINDS = ("edit", "baseline")


def check_family(model_params: Mapping[str, Any]) -> str:
    """``model.family``, checked against :mod:`relsafe.families` (a clear error otherwise)."""
    from relsafe.families import check_family as _check

    return _check(model_params)


def __getattr__(name: str):
    if name == "FAMILIES":  # the known families, found in relsafe.families
        from relsafe.families import family_names

        return tuple(family_names())
    raise AttributeError(name)


def _manifest(
    kind: str,
    model_params: Mapping[str, Any],
    params: Mapping[str, Any],
    policy_sha: str,
    extra: Mapping[str, Any] | None = None,
) -> dict:
    return build_manifest(
        kind=kind,
        model_params=model_params,
        base_sha256=base_model_hash(model_params),
        policy_sha256=policy_sha,
        data_sha256="",
        params=params,
        trainable_share=0.0,
        trainable_params=0,
        extra=extra,
    )


def _load_base(model_params: Mapping[str, Any]):
    from relsafe.families import get_family

    return get_family(check_family(model_params)).load_base(model_params)


def identity_adapter(
    model_params: Mapping[str, Any], params: Mapping[str, Any], policy_sha: str, reason: str
) -> tuple[AdapterBundle, pd.DataFrame]:
    """An untrained LoRA (B = 0, so it changes nothing) whose manifest says ``skipped``.

    Lets downstream datasets and nodes stay uniform when the baseline is switched off.
    """
    from relsafe.families import get_family

    family = get_family(check_family(model_params))
    _, peft_model = family.attach_lora(
        family.load_base(model_params), dict(params.get("lora", {}) or {})
    )
    manifest = _manifest(
        "baseline", model_params, params, policy_sha, {"skipped": True, "skip_reason": reason}
    )
    manifest.update(
        trainable_share=trainable_share(peft_model),
        trainable_params=trainable_count(peft_model),
        steps_run=0,
    )
    logger.info("baseline adapter skipped (%s): wrote an identity adapter", reason)
    return AdapterBundle.from_peft(peft_model, manifest), pd.DataFrame(columns=["step", "loss"])


def run_edit(
    kind: str,
    model_params: Mapping[str, Any],
    params: Mapping[str, Any],
    policy,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    lm_forget: pd.DataFrame | None = None,
    lm_retain: pd.DataFrame | None = None,
    on_metrics: MetricCallback | None = None,
    on_step: StepCallback | None = None,
) -> tuple[AdapterBundle, pd.DataFrame]:
    """Train the relational edit (``kind="edit"``) or the concept-erasure baseline.

    The family (:mod:`relsafe.families`) picks its rows: the encoder the text sets
    ``forget``/``retain``; the generative families ``lm_forget`` / ``lm_retain`` (their train
    split), and for the baseline the LM rows whose ``text`` mentions an erased concept move
    from retain to forget with a refusal target. One training path for every family:
    :func:`relsafe.editing.edit.train_family_edit`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {KINDS}")
    family = check_family(model_params)
    policy_sha = policy.digest()
    baseline = dict(params.get("baseline") or {})
    if kind == "baseline" and not baseline.get("enabled", True):
        return identity_adapter(
            model_params, params, policy_sha, "train_edit.baseline.enabled is false"
        )
    extra: dict[str, Any] = {}
    if kind == "baseline":
        extra = {"baseline": "concept_erasure", "concept": baseline.get("concept", "auto")}
    name = f"{family}_{kind}"
    desc = f"{'LoRA edit' if kind == 'edit' else 'concept-erasure baseline'} ({family})"
    from relsafe.editing.edit import train_family_edit
    from relsafe.families import get_family

    fam = get_family(family)
    sets = {"forget": forget, "retain": retain, "lm_forget": lm_forget, "lm_retain": lm_retain}
    rows_forget, rows_retain = fam.edit_rows(kind, policy, baseline, sets)
    base = fam.load_base(model_params)
    manifest = _manifest(kind, model_params, params, policy_sha, extra)
    return train_family_edit(
        fam,
        base,
        rows_forget,
        rows_retain,
        params,
        manifest,
        on_metrics=on_metrics,
        on_step=on_step,
        checkpoint_name=name,
        desc=desc,
    )
