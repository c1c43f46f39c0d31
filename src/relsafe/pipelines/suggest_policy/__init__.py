"""The suggest_policy pipeline (lexicon expansion proposals; never edits the policy)."""

from relsafe.pipelines.suggest_policy.pipeline import create_pipeline

__all__ = ["create_pipeline"]
