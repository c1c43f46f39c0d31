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
from relsafe.editing.lora import add_lora, trainable_count, trainable_share
from relsafe.editing.manifest import base_model_hash, build_manifest
from relsafe.editing.trainer import MetricCallback, StepCallback

logger = logging.getLogger(__name__)

FAMILIES = ("encoder", "causal_lm")
KINDS = ("edit", "baseline")


def check_family(model_params: Mapping[str, Any]) -> str:
    family = model_params.get("family", "encoder")
    if family not in FAMILIES:
        raise ValueError(
            f"model.family {family!r}: expected one of {FAMILIES} (conf/base/parameters_train_edit.yml)"
        )
    return family


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
    family = check_family(model_params)
    if family == "encoder":
        from relsafe.models.encoders import EncoderConfig, load_encoder

        return load_encoder(EncoderConfig.from_params(model_params))
    from relsafe.models.causal_lm import CausalLMConfig, load_causal_lm

    return load_causal_lm(CausalLMConfig.from_params(model_params))


def identity_adapter(
    model_params: Mapping[str, Any], params: Mapping[str, Any], policy_sha: str, reason: str
) -> tuple[AdapterBundle, pd.DataFrame]:
    """An untrained LoRA (B = 0, so it changes nothing) whose manifest says ``skipped``.

    Lets downstream datasets and nodes stay uniform when the baseline is switched off.
    """
    base = _load_base(model_params)
    module = base.model if check_family(model_params) == "encoder" else base[0]
    peft_model = add_lora(module, params.get("lora", {}) or {})
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

    Encoder family: ``forget``/``retain`` are the text sets. Causal-LM family: ``lm_forget``
    / ``lm_retain`` (their train split) are used, and for the baseline the LM rows whose
    ``text`` mentions an erased concept move from retain to forget with a refusal target.
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
    if family == "encoder":
        from relsafe.editing.encoder_edit import train_encoder_edit

        if kind == "baseline":
            from relsafe.editing.erasure import erasure_sets

            forget, retain = erasure_sets(policy, forget, retain, baseline.get("concept", "auto"))
        encoder = _load_base(model_params)
        manifest = _manifest(kind, model_params, params, policy_sha, extra)
        return train_encoder_edit(
            encoder,
            forget,
            retain,
            params,
            manifest,
            on_metrics=on_metrics,
            on_step=on_step,
            checkpoint_name=name,
            desc=desc,
        )
    from relsafe.editing.lm_edit import train_lm_edit

    if lm_forget is None or lm_retain is None:
        raise ValueError(
            "model.family is causal_lm but lm_forget_set / lm_retain_set were not given (run build_sets with --env lm)"
        )
    if kind == "baseline":
        from relsafe.editing.erasure import erasure_lm_sets

        lm_forget, lm_retain = erasure_lm_sets(
            policy,
            lm_forget,
            lm_retain,
            baseline.get("concept", "auto"),
            refusal=baseline.get("lm_refusal"),
        )
    model, tokenizer = _load_base(model_params)
    manifest = _manifest(kind, model_params, params, policy_sha, extra)
    return train_lm_edit(
        model,
        tokenizer,
        lm_forget,
        lm_retain,
        params,
        manifest,
        on_metrics=on_metrics,
        on_step=on_step,
        checkpoint_name=name,
        desc=desc,
    )
