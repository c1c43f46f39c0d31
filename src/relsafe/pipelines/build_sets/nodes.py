"""Nodes: policy + tuples -> forget / retain / eval sets, LM prompt sets, set statistics.

Thin wiring only; the work is in ``relsafe.policy``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from relsafe.families import get_family
from relsafe.policy import load_policy
from relsafe.policy.lm_sets import (
    LM_COLUMNS,
    LMSetConfig,
    build_lm_eval_prompts,
    fill_completions,
)
from relsafe.policy.lm_sets import build_lm_prompts as _build_lm_prompts
from relsafe.policy.sets import SetConfig, build_text_sets
from relsafe.policy.stats import balance_report, set_stats, stats_metrics

logger = logging.getLogger(__name__)
POLICY_SOURCE = "conf/base/safety_policy.yml"


def build_sets(
    policy_data: dict, tuples: pd.DataFrame, scene_pairs: pd.DataFrame, params: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Forget / retain / eval sets and the build notes (dropped-row counts).

    ``scene_pairs``: written natural-language pairs for the paired-retrieval eval only.
    """
    policy = load_policy(policy_data, source=POLICY_SOURCE)
    sets = build_text_sets(policy, tuples, SetConfig.from_params(params), scene_pairs)
    logger.info(
        "build_sets: forget %d, retain %d, eval %d; %s",
        len(sets.forget),
        len(sets.retain),
        len(sets.eval),
        sets.notes,
    )
    return sets.forget, sets.retain, sets.eval, sets.notes


def build_lm_prompts(
    policy_data: dict,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    eval_set: pd.DataFrame,
    advbench: pd.DataFrame,
    benign: pd.DataFrame,
    tasks: pd.DataFrame,
    params: dict,
    model: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LM forget / retain prompts (text only) with train / heldout splits.

    With ``model.family: encoder`` nothing in the run uses them: both are empty frames with
    the LM set columns (so the catalog and DVC outputs stay consistent), and
    ``complete_lm_sets`` loads no model. The policy is still validated.
    """
    policy = load_policy(policy_data, source=POLICY_SOURCE)
    if model is not None and not get_family(model.get("family", "encoder")).uses_lm_sets:
        logger.info(
            "build_lm_prompts: model.family=%r trains on no LM set; LM prompt sets left empty",
            model.get("family", "encoder"),
        )
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in LM_COLUMNS})
        return empty, empty.copy()
    cfg = LMSetConfig.from_params(params.get("lm"))
    seed = int(params.get("seed", 42))
    return _build_lm_prompts(
        policy, forget, retain, eval_set, advbench, benign, cfg, seed=seed, tasks=tasks
    )


def build_lm_eval_set(
    policy_data: dict,
    harmful_styles: pd.DataFrame,
    benign_alarming: pd.DataFrame,
    lm_forget_prompts: pd.DataFrame,
    lm_retain_prompts: pd.DataFrame,
    params: dict,
) -> pd.DataFrame:
    """Held-out LM eval prompts: relational requests in unseen formats with their contrasts,
    harmful requests in non-AdvBench styles, benign-but-alarming prompts (never trained on;
    an overlap with the LM prompt sets is an error)."""
    policy = load_policy(policy_data, source=POLICY_SOURCE)
    cfg = LMSetConfig.from_params(params.get("lm"))
    return build_lm_eval_prompts(
        policy,
        harmful_styles,
        benign_alarming,
        cfg,
        seed=int(params.get("seed", 42)),
        training=[lm_forget_prompts, lm_retain_prompts],
    )


def complete_lm_sets(
    lm_forget_prompts: pd.DataFrame,
    lm_retain_prompts: pd.DataFrame,
    completion_cache: pd.DataFrame,
    model: dict,
    params: dict,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Fill ``completion`` with the base model's own greedy answers (generative families:
    ``causal_lm``, ``vlm``).

    Answers come from ``completion_cache`` (keyed by model, prompt and generation params)
    when present; only the others are generated, in length-sorted batches. Returns the two
    sets and the updated cache (unchanged for the encoder family).
    """
    cfg = LMSetConfig.from_params(params.get("lm"))
    seed = int(params.get("seed", 42))
    generate = None
    cache = None
    family = get_family(model.get("family", "encoder"))
    if family.uses_lm_sets:
        import torch

        from relsafe.models.completion_cache import (
            CompletionCache,
            greedy_chat_params,
            model_fingerprint,
        )

        device = (
            cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        gen_params = greedy_chat_params(cfg.max_new_tokens)
        cache = CompletionCache.from_frame(completion_cache, model_fingerprint(model), gen_params)
        loaded: dict = {}

        def base_generate(prompts: list[str]) -> list[str]:
            if not loaded:  # load the model only when something is not cached
                loaded["lm"] = family.load_base(model, device=device)
            return family.generate(
                loaded["lm"], prompts, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size
            )

        generate = cache.wrap(base_generate)
    else:
        logger.info(
            "complete_lm_sets: model.family=%r, passing LM prompts through without completions",
            model.get("family"),
        )
    forget = fill_completions(lm_forget_prompts, generate, cfg.max_completions, seed)
    retain = fill_completions(lm_retain_prompts, generate, cfg.max_completions, seed + 1)
    if cache is None:
        return forget, retain, completion_cache
    logger.info(
        "complete_lm_sets: %d completions from the cache, %d generated",
        cache.hits,
        cache.generated,
    )
    return forget, retain, cache.frame()


def report_sets(
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    eval_set: pd.DataFrame,
    lm_forget: pd.DataFrame,
    lm_retain: pd.DataFrame,
    notes: dict,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stats and per-rule balance tables; also logged to the active MLflow run, if any."""
    stats = set_stats(forget, retain, eval_set, lm_forget, lm_retain, notes)
    balance = balance_report(forget, retain, eval_set)
    if mlflow.active_run() is not None:
        mlflow.log_metrics(stats_metrics(stats))
        with tempfile.TemporaryDirectory() as tmp:
            for name, df in (("set_stats.csv", stats), ("set_balance.csv", balance)):
                df.to_csv(Path(tmp) / name, index=False)
                mlflow.log_artifact(str(Path(tmp) / name), artifact_path="sets")
    return stats, balance
