"""The extract_tuples pipeline."""

from relsafe.pipelines.extract_tuples.pipeline import create_pipeline

__all__ = ["create_pipeline"]
