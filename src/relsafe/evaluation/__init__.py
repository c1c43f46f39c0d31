"""Evaluation: retrieval/drift metrics, relation recognition, CLIP image metrics, LM metrics,
attacks and judges (registries by name), comparison tables, charts and HTML reports."""

from relsafe.evaluation.attacks import ATTACKS, apply_attack, get_attack, register_attack
from relsafe.evaluation.comparison import clean_metrics, comparison_table
from relsafe.evaluation.encoder_eval import (
    EvaluationResult,
    compare_encoder_variants,
    encoder_metrics,
)
from relsafe.evaluation.judges import JUDGES, get_judge, register_judge
from relsafe.evaluation.retrieval import drift, recall_at_k

__all__ = [
    "ATTACKS",
    "JUDGES",
    "EvaluationResult",
    "apply_attack",
    "clean_metrics",
    "compare_encoder_variants",
    "comparison_table",
    "drift",
    "encoder_metrics",
    "get_attack",
    "get_judge",
    "recall_at_k",
    "register_attack",
    "register_judge",
]
