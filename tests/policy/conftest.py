"""Fixtures for policy tests: the default policy and a hand-written tuple table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from relsafe.policy import load_policy
from relsafe.policy.schema import SafetyPolicy
from relsafe.policy.sets import SetConfig

ROOT = Path(__file__).resolve().parents[2]


def tuple_row(cid: str, caption: str, tuples: list[tuple], status: str = "ok") -> dict:
    """One caption_tuples row; tuples are (subject, relation, object, negated[, subject_head, object_head])."""
    dicts = []
    for t in tuples:
        s, r, o, neg = t[:4]
        sh, oh = t[4:6] if len(t) > 4 else (s.split()[-1], o.split()[-1])
        dicts.append(
            {
                "subject": s,
                "relation": r,
                "object": o,
                "negated": neg,
                "subject_head": sh,
                "object_head": oh,
            }
        )
    return {
        "caption_id": cid,
        "caption": caption,
        "source": "test",
        "tuples": json.dumps(dicts),
        "n_tuples": len(dicts),
        "status": status,
    }


@pytest.fixture(scope="session")
def policy_data() -> dict:
    return yaml.safe_load((ROOT / "conf/base/safety_policy.yml").read_text())


@pytest.fixture(scope="session")
def policy(policy_data) -> SafetyPolicy:
    return load_policy(policy_data)


@pytest.fixture(scope="session")
def tuples() -> pd.DataFrame:
    rows = [
        tuple_row(
            "s1",
            "a young boy drinking beer from a bottle",
            [("young boy", "drink", "beer", False, "boy", "beer")],
        ),
        tuple_row(
            "s2",
            "a kid smoking a cigarette behind the school",
            [("kid", "smoke", "cigarette", False)],
        ),
        tuple_row("s3", "a man being stabbed by a stranger", [("stranger", "stab", "man", False)]),
        tuple_row("s4", "a youngster drinking wine", [("youngster", "drink", "wine", False)]),
        tuple_row("s5", "a child not drinking wine", [("child", "drink", "wine", True)]),
        tuple_row(
            "s6",
            "a girl holding a water gun",
            [("girl", "hold", "water gun", False, "girl", "gun")],
        ),
        tuple_row(
            "s7",
            "a toddler holding a wine glass",
            [("toddler", "hold", "wine glass", False, "toddler", "glass")],
        ),
        tuple_row("f1", "a man sitting on a bench", [("man", "sit on", "bench", False)]),
        tuple_row(
            "f2", "a pedestrian crossing the street", [("pedestrian", "cross", "street", False)]
        ),
        tuple_row("f3", "a woman pushing a man off a cliff", [("woman", "push off", "man", False)]),
        tuple_row("f4", "a dog catching a frisbee", [("dog", "catch", "frisbee", False)]),
        tuple_row("f5", "a bus parked near a curb", [("bus", "park near", "curb", False)]),
        tuple_row("f6", "leg of the man", [], status="no tuples"),
        tuple_row("f7", "a girl riding a bike", [("girl", "ride", "bike", False)]),
        tuple_row("f8", "a man holding an umbrella", [("man", "hold", "umbrella", False)]),
    ]
    return pd.DataFrame(rows)


SMALL = {
    "seed": 7,
    "forget_per_rule": 12,
    "retain_per_kind": 6,
    "general_retain": 4,
    "eval_per_attack": 4,
}


@pytest.fixture(scope="session")
def small_cfg() -> SetConfig:
    return SetConfig.from_params(SMALL)


@pytest.fixture(scope="session")
def text_sets(policy, tuples, small_cfg):
    from relsafe.policy.sets import build_text_sets

    return build_text_sets(policy, tuples, small_cfg)
