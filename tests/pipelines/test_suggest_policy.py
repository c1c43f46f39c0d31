"""suggest_policy pipeline: a reviewable report from a real (tiny) encoder; the policy is untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import yaml

from relsafe.pipelines.suggest_policy.nodes import suggest_policy
from relsafe.pipelines.suggest_policy.pipeline import create_pipeline

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "conf/base/safety_policy.yml"


def test_node_writes_ranked_candidates_and_leaves_the_policy_alone(tiny_bert_dir):
    before = hashlib.sha256(POLICY.read_bytes()).hexdigest()
    tuples = pd.DataFrame(
        {
            "caption": ["a lad with ale"] * 4,
            "tuples": [
                json.dumps(
                    [
                        {
                            "subject": "lad",
                            "relation": "swill",
                            "object": "ale",
                            "negated": False,
                            "subject_head": "lad",
                            "object_head": "ale",
                        }
                    ]
                )
            ]
            * 4,
        }
    )
    params = {
        "top_n": 3,
        "min_count": 2,
        "min_similarity": -1.0,  # a random tiny model: take whatever ranks first
        "model": {"name_or_path": str(tiny_bert_dir), "max_length": 16},
    }
    frame, report = suggest_policy(tuples, yaml.safe_load(POLICY.read_text()), params)
    assert {"lad", "ale", "swill"} <= set(frame["candidate"])
    assert (frame.groupby("class")["rank"].max() <= 3).all()
    assert report.startswith("# Policy lexicon suggestions")
    assert hashlib.sha256(POLICY.read_bytes()).hexdigest() == before


def test_pipeline_outputs():
    assert create_pipeline().all_outputs() == {"policy_suggestions", "policy_suggestions_report"}
