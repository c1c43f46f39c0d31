"""The rollback pipeline: ``champion`` back to ``previous-champion`` (not part of ``__default__``)."""

from relsafe.pipelines.rollback.pipeline import create_pipeline

__all__ = ["create_pipeline"]
