"""The register pipeline."""

from relsafe.pipelines.register.pipeline import create_pipeline

__all__ = ["create_pipeline"]
