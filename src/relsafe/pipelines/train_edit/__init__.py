"""The train_edit pipeline."""

from relsafe.pipelines.train_edit.pipeline import create_pipeline

__all__ = ["create_pipeline"]
