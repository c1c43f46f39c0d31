"""Evaluation: retrieval/drift metrics, attacks, judges, reports."""

from relsafe.evaluation.encoder_eval import encoder_metrics
from relsafe.evaluation.retrieval import drift, recall_at_k

__all__ = ["drift", "encoder_metrics", "recall_at_k"]
