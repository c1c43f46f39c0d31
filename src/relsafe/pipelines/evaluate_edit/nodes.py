"""Nodes: adapters + eval sets -> metrics, tables, charts, HTML report (thin: calls relsafe.evaluation)."""

from __future__ import annotations

import hashlib
import json
import logging

import mlflow
import pandas as pd
from matplotlib.figure import Figure

from relsafe.editing import AdapterBundle
from relsafe.evaluation.comparison import clean_metrics, comparison_table
from relsafe.evaluation.plots import drift_histograms, examples_table, per_rule_bars
from relsafe.evaluation.report import build_report
from relsafe.families import get_family
from relsafe.policy import load_policy
from relsafe.registry.binding import BINDING_KEY, make_binding

logger = logging.getLogger(__name__)


def evaluate_edit(
    edit_adapter: AdapterBundle,
    baseline_adapter: AdapterBundle,
    eval_set: pd.DataFrame,
    retain_set: pd.DataFrame,
    lm_forget_set: pd.DataFrame,
    lm_retain_set: pd.DataFrame,
    lm_eval_set: pd.DataFrame,
    plain_text: str,
    compositionality_captions: pd.DataFrame,
    policy_data: dict,
    answer_cache: pd.DataFrame,
    model: dict,
    params: dict,
) -> tuple[
    dict, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame
]:
    """Evaluate base, edit and baseline with the family of ``model.family``
    (:meth:`relsafe.families.base.Family.evaluate`).

    Returns metrics (flat), per-row results, comparison table, per-rule table, drift table
    and before/after examples, and ``answer_cache`` updated with the unedited model's new
    answers (generative families; unchanged otherwise). ``policy_data`` (the raw policy
    YAML) gives each rule's category for the per-category metrics. ``lm_eval_set`` (held-out LM prompts, never
    trained on) joins the LM sets' held-out split for the causal_lm family.

    The baseline is evaluated only when ``variants`` names it and it was trained: an adapter
    whose manifest says ``skipped`` (``train_edit.baseline.enabled: false``) is left out, so
    no metric, table row or generation is spent on an untrained copy of the base.

    The metrics carry a ``binding`` block (:mod:`relsafe.registry.binding`): each scored
    adapter's content hash and kind, and the hashes of the scored rows and the policy, so
    that registration can refuse metrics that belong to another adapter.
    """
    fam = get_family(model.get("family", "encoder"))
    family = fam.name
    inputs = {
        "eval_set": with_categories(eval_set, policy_data),
        "retain_set": retain_set,
        "lm_forget_set": lm_forget_set,
        "lm_retain_set": lm_retain_set,
        "lm_eval_set": lm_eval_set,
        "plain_text": plain_text,
        "compositionality_captions": compositionality_captions,
        "policy_data": policy_data,
        "eval_params": params,
        "answer_cache": answer_cache,
    }
    scored_sha = fam.scored_hash({**inputs, "eval_set": eval_set})
    adapters = evaluated_adapters(edit_adapter, baseline_adapter, params)
    result = fam.evaluate(model, adapters, inputs, params)
    metrics = clean_metrics(result.metrics)
    if params.get("log_mlflow", True) and mlflow.active_run() is not None:
        mlflow.log_metrics(metrics)
    binding = make_binding(adapters, scored_sha, _policy_sha(policy_data), family)
    return (
        {**metrics, BINDING_KEY: binding},
        result.rows,
        comparison_table(metrics),
        result.per_rule,
        result.drift,
        result.examples,
        result.extra.get("answer_cache", answer_cache),
    )


def evaluated_adapters(
    edit_adapter: AdapterBundle, baseline_adapter: AdapterBundle | None, params: dict
) -> dict[str, AdapterBundle]:
    """``{"edit": ...}`` plus ``"baseline"`` when ``variants`` names it and it was trained
    (its manifest does not say ``skipped``)."""
    adapters = {"edit": edit_adapter}
    if "baseline" in params.get("variants", ["edit", "baseline"]):
        manifest = (getattr(baseline_adapter, "manifest", None) or {}) if baseline_adapter else {}
        if baseline_adapter is None or manifest.get("skipped"):
            logger.info(
                "evaluate_edit: the concept-erasure baseline was not trained (%s); it is left "
                "out of the metrics and the report",
                manifest.get("skip_reason", "no adapter"),
            )
        else:
            adapters["baseline"] = baseline_adapter
    return adapters


def _policy_sha(policy_data: dict | None) -> str:
    """The policy digest that train_edit writes into the manifest (raw JSON if it is invalid)."""
    try:
        return load_policy(policy_data, source="safety_policy").digest()
    except Exception:  # an invalid policy never trained an adapter: no manifest can match
        raw = json.dumps(policy_data, sort_keys=True, default=str)
        return "raw:" + hashlib.sha256(raw.encode()).hexdigest()


def with_categories(frame: pd.DataFrame, policy_data: dict | None) -> pd.DataFrame:
    """Add ``category`` from the policy's rules when the frame lacks it."""
    if frame is None or "category" in frame or "rule_id" not in frame:
        return frame
    categories = {
        str(r.get("id")): r.get("category", "")
        for r in (policy_data or {}).get("rules", [])
        if isinstance(r, dict)
    }
    return frame.assign(category=frame["rule_id"].astype(str).map(categories).fillna(""))


def make_charts(
    per_rule: pd.DataFrame, drift: pd.DataFrame, examples: pd.DataFrame, params: dict
) -> tuple[Figure, Figure, Figure]:
    """Per-rule suppression vs collateral, drift histograms, before/after examples."""
    charts = params.get("charts", {})
    return (
        per_rule_bars(per_rule),
        drift_histograms(drift, bins=int(charts.get("drift_bins", 30))),
        examples_table(examples, max_rows=int(charts.get("max_example_rows", 12))),
    )


def _has_baseline(metrics: dict) -> bool:
    return any(k.startswith("baseline_") for k in metrics)


def make_report(
    metrics: dict,
    comparison: pd.DataFrame,
    per_rule: pd.DataFrame,
    examples: pd.DataFrame,
    model: dict,
    params: dict,
) -> str:
    """The HTML report; it links the PNG charts saved beside it."""
    report = params.get("report", {})
    meta = {
        "model family": model.get("family"),
        "base model": model.get("name_or_path"),
        "variants": ", ".join(["base", "edit", *(["baseline"] if _has_baseline(metrics) else [])]),
    }
    if mlflow.active_run() is not None:
        meta["MLflow run"] = mlflow.active_run().info.run_id
    return build_report(
        metrics,
        comparison,
        per_rule,
        examples,
        images=report.get("images", {}),
        meta=meta,
        title=report.get("title", "relsafe evaluation report"),
    )
