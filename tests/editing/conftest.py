"""Fixtures for the editing tests: small synthetic sets and tiny-run params."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture
def tiny_sets() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A forget set (text, redirect) and a retain set (text, kind) in the build_sets schema."""
    forget = pd.DataFrame(
        {
            "text": [
                "a child drinking wine",
                "a boy sipping beer",
                "a kid holding a gun",
                "a girl smoking a cigarette",
                "a teen chugging vodka",
                "a toddler aiming a rifle",
            ],
            "redirect": [
                "a child drinking juice",
                "a boy sipping milk",
                "a kid holding a toy",
                "a girl blowing bubbles",
                "a teen chugging lemonade",
                "a toddler aiming a camera",
            ],
            "rule_id": [
                "minor_alcohol",
                "minor_alcohol",
                "minor_weapon",
                "minor_smoking",
                "minor_alcohol",
                "minor_weapon",
            ],
        }
    )
    retain = pd.DataFrame(
        {
            "text": [
                "a man drinking wine",
                "a child drinking milk",
                "a woman holding a gun",
                "a dog on a sofa",
                "a red bus on a street",
                "a child",
                "wine",
                "a gun",
                "a woman sipping tea",
            ],
            "kind": [
                "same_object",
                "same_relation",
                "same_object",
                "general",
                "general",
                "marginal_subject",
                "marginal_object",
                "marginal_object",
                "same_relation",
            ],
            "rule_id": ["minor_alcohol"] * 3 + [""] * 2 + ["minor_alcohol"] * 4,
        }
    )
    return forget, retain


def _encoder_params(**over) -> dict:
    params = {
        "seed": 0,
        "steps": 4,
        "batch_size": 3,
        "lr": 1e-2,
        "log_every": 2,
        "progress": False,
        "device": "cpu",
        "lora": {"r": 2, "alpha": 4},
        "encoder": {
            "terms": {
                "forget": {"loss": "encoder_forget", "weight": 1.0, "margin": 0.3},
                "retain": {"loss": "encoder_retain", "weight": 1.0, "kinds": ["same_", "general"]},
                "marginal": {"loss": "encoder_retain", "weight": 1.0, "kinds": ["marginal_"]},
            }
        },
    }
    params.update(over)
    return params


@pytest.fixture
def make_params():
    """``make_params(**overrides)`` -> tiny, fast train_edit params for the encoder family."""
    return _encoder_params
