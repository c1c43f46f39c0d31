"""The build_sets pipeline."""

from relsafe.pipelines.build_sets.pipeline import create_pipeline

__all__ = ["create_pipeline"]
