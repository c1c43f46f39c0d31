"""Nodes: policy + tuples -> forget / retain / eval sets."""

from __future__ import annotations

import logging

import pandas as pd

from relsafe.policy import load_policy
from relsafe.policy.sets import (
    SetConfig,
    build_eval,
    build_forget,
    build_retain,
    mine_corpus,
    remove_leakage,
    set_stats,
)

logger = logging.getLogger(__name__)


def build_sets(policy_data: dict, tuples: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    policy = load_policy(policy_data, source="conf/base/safety_policy.yml")
    cfg = SetConfig(**params)
    mined = mine_corpus(policy, tuples)
    forget = build_forget(policy, mined, cfg)
    retain = build_retain(policy, tuples, mined, cfg)
    eval_set, leaked = remove_leakage(build_eval(policy, cfg), forget, retain)
    if leaked:
        logger.warning("build_sets: dropped %d eval rows that also appear in training sets", leaked)
    logger.info("build_sets: forget %d (mined %d), retain %d, eval %d", len(forget), len(mined), len(retain), len(eval_set))
    return forget, retain, eval_set, set_stats(forget, retain, eval_set)
