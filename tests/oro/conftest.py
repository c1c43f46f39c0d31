"""Shared fixtures: the spaCy model loads once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def extractor():
    """One TupleExtractor for the whole session."""
    from relsafe.oro import TupleExtractor

    return TupleExtractor(batch_size=64)


@pytest.fixture(scope="session")
def triples_of(extractor):
    """Caption -> set of (subject, relation, object, negated)."""

    def run(text: str) -> set[tuple[str, str, str, bool]]:
        return {(t.subject, t.relation, t.object, t.negated) for t in extractor.extract([text])[0]}

    return run
