"""The promote pipeline: gated challenger -> champion (not part of ``__default__``)."""

from relsafe.pipelines.promote.pipeline import create_pipeline

__all__ = ["create_pipeline"]
