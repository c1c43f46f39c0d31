"""The evaluate_edit pipeline."""

from relsafe.pipelines.evaluate_edit.pipeline import create_pipeline

__all__ = ["create_pipeline"]
