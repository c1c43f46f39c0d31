"""The one training path of every model family: rows -> terms -> pools -> LoRA -> loop -> adapter.

A family (:class:`relsafe.families.base.Family`) supplies the parts that differ: which rows
it trains on, its term specs and pools, where LoRA goes, the per-step closure that scores
the terms, and how its data is hashed. Everything else happens here, once: seeding, the
trainable share, the checkpoint fingerprint, the shared :func:`~relsafe.editing.trainer.
train_loop`, the manifest and the :class:`~relsafe.editing.adapter_io.AdapterBundle`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from relsafe.editing.adapter_io import AdapterBundle
from relsafe.editing.lora import trainable_count, trainable_share
from relsafe.editing.manifest import params_fingerprint
from relsafe.editing.trainer import MetricCallback, StepCallback, TrainerConfig, train_loop

logger = logging.getLogger(__name__)

#: Params that do not change what is learned (a checkpoint made under others still fits).
NON_SEMANTIC = {"progress", "checkpoint", "log_every", "device", "baseline"}


def semantic_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in NON_SEMANTIC}


def train_family_edit(
    family,
    base: Any,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    params: Mapping[str, Any],
    manifest: dict,
    on_metrics: MetricCallback | None = None,
    on_step: StepCallback | None = None,
    checkpoint_name: str = "edit",
    desc: str | None = None,
) -> tuple[AdapterBundle, pd.DataFrame]:
    """Train a LoRA adapter on ``base`` (as loaded by ``family.load_base``).

    ``params`` is ``params:train_edit`` (trainer keys at the top, the family's terms under
    ``train_edit.<family.terms_key>``); ``manifest`` holds the base / policy hashes and is
    completed here. Returns the adapter and the per-step history.
    """
    desc = desc or f"LoRA edit ({family.name})"
    cfg = TrainerConfig.from_params(params)
    block = dict(params.get(family.terms_key) or {})
    forget, retain, counts = family.training_rows(forget, retain, block, cfg.seed)
    specs = family.parse_terms(block.get("terms"))
    torch.manual_seed(cfg.seed)
    pools = family.build_pools(base, forget, retain, specs, block, cfg.seed)
    train_module, peft_model = family.attach_lora(base, dict(params.get("lora") or {}))
    share, n_trainable = trainable_share(peft_model), trainable_count(peft_model)
    family.before_training(base, train_module, pools, specs, block, cfg)
    data_sha = family.data_hash(forget, retain)
    fingerprint = params_fingerprint(
        family.name,
        semantic_params(params),
        data_sha,
        manifest.get("base_sha256", ""),
        checkpoint_name,
    )
    result = train_loop(
        train_module,
        family.compute_terms(base, pools, specs, params, block),
        {s.name: s.weight for s in specs},
        cfg,
        fingerprint=fingerprint,
        checkpoint_name=checkpoint_name,
        on_metrics=on_metrics,
        on_step=on_step,
        desc=desc,
    )
    peft_model = family.trained_adapter(result, train_module)
    manifest = {
        **manifest,
        "data_sha256": manifest.get("data_sha256") or data_sha,
        "trainable_share": share,
        "trainable_params": n_trainable,
        "train_seconds": result.seconds,
        "steps_run": result.steps_run,
        "stopped_early": result.stopped_early,
        "resumed_from_step": result.resumed_from,
        "device": result.device,
        "mixed_precision": result.mixed_precision,
        **counts,
        "terms": {
            s.name: {
                "loss": s.loss,
                "weight": s.weight,
                "n_rows": family.pool_size(pools[s.name]),
                **family.manifest_options(s),
            }
            for s in specs
        },
    }
    logger.info(
        "%s: %d steps in %.1fs, trainable share %.3f%%",
        desc,
        result.steps_run,
        result.seconds,
        100 * share,
    )
    return AdapterBundle.from_peft(peft_model, manifest), result.history
