"""Node: propose lexicon additions from the corpus (thin: calls relsafe.policy.suggest)."""

from __future__ import annotations

import logging

import pandas as pd

from relsafe.pipelines.build_sets.nodes import POLICY_SOURCE
from relsafe.policy import load_policy
from relsafe.policy.suggest import SuggestConfig, suggest_lexicon, suggestions_markdown

logger = logging.getLogger(__name__)


def suggest_policy(
    tuples: pd.DataFrame, policy_data: dict, params: dict
) -> tuple[pd.DataFrame, str]:
    """Ranked candidates per class (CSV) and a markdown review report; the policy is untouched."""
    from relsafe.models import EncoderConfig, load_encoder

    policy = load_policy(policy_data, source=POLICY_SOURCE)
    cfg = SuggestConfig.from_params(params)
    encoder = load_encoder(EncoderConfig.from_params(dict(params.get("model") or {})))
    frame = suggest_lexicon(policy, tuples, encoder.encode, cfg)
    logger.info(
        "suggest_policy: %d candidates for %d classes; review data/08_reporting/"
        "policy_suggestions.md and add the ones you accept to %s",
        len(frame),
        frame["class"].nunique() if len(frame) else 0,
        POLICY_SOURCE,
    )
    return frame, suggestions_markdown(frame, policy.digest())
