"""LM prompt sets: sources, refusals, disjoint splits, completion filling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from relsafe.policy.leakage import normalise_text
from relsafe.policy.lm_sets import LMSetConfig, build_lm_prompts, fill_completions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lm_sets(policy, text_sets):
    advbench = pd.read_csv(ROOT / "data/01_raw/advbench_harmful_behaviors.csv")
    benign = pd.read_csv(ROOT / "data/01_raw/benign_instructions.csv")
    cfg = LMSetConfig.from_params(
        {
            "relational_per_rule": 6,
            "relational_heldout_per_rule": 3,
            "contrast_per_rule": 6,
            "contrast_heldout_per_rule": 3,
            "advbench_max": 50,
        }
    )
    return build_lm_prompts(
        policy, text_sets.forget, text_sets.retain, text_sets.eval, advbench, benign, cfg, seed=7
    )


def test_benign_instructions_file():
    benign = pd.read_csv(ROOT / "data/01_raw/benign_instructions.csv")
    assert list(benign.columns) == ["instruction", "category"]
    assert (
        len(benign) >= 150
        and benign["instruction"].is_unique
        and benign["category"].nunique() >= 10
    )


def test_sources_and_columns(lm_sets):
    forget, retain = lm_sets
    for df in lm_sets:
        assert {"prompt", "refusal", "source", "rule_id", "category", "split"} <= set(df.columns)
        assert set(df["split"]) == {"train", "heldout"}
    assert set(forget["source"]) == {"advbench", "relational"}
    assert set(retain["source"]) == {"benign", "contrast"}
    assert forget["refusal"].str.len().gt(0).all() and retain["refusal"].eq("").all()
    assert forget["refusal"].nunique() > 4  # varied refusal templates
    rel = forget[forget["source"] == "relational"]
    assert (
        rel["prompt"]
        .str.contains("|".join(["photo", "caption", "story", "image", "painting", "movie"]))
        .all()
    )


def test_splits_disjoint(lm_sets):
    for df in lm_sets:
        train = {normalise_text(p) for p in df.loc[df["split"] == "train", "prompt"]}
        held = {normalise_text(p) for p in df.loc[df["split"] == "heldout", "prompt"]}
        assert train and held and not train & held


def test_relational_heldout_uses_eval_texts_and_templates(lm_sets, text_sets):
    forget, _ = lm_sets
    held = forget[(forget["source"] == "relational") & (forget["split"] == "heldout")]
    train = forget[(forget["source"] == "relational") & (forget["split"] == "train")]
    assert set(held["text"]) <= set(text_sets.eval["text"])
    assert set(train["text"]) <= set(text_sets.forget["text"])
    assert held["prompt"].str.contains("painting|movie scene").all()
    assert not train["prompt"].str.contains("painting|movie scene").any()


def test_deterministic(policy, text_sets, lm_sets):
    advbench = pd.read_csv(ROOT / "data/01_raw/advbench_harmful_behaviors.csv")
    benign = pd.read_csv(ROOT / "data/01_raw/benign_instructions.csv")
    cfg = LMSetConfig.from_params(
        {
            "relational_per_rule": 6,
            "relational_heldout_per_rule": 3,
            "contrast_per_rule": 6,
            "contrast_heldout_per_rule": 3,
            "advbench_max": 50,
        }
    )
    again = build_lm_prompts(
        policy, text_sets.forget, text_sets.retain, text_sets.eval, advbench, benign, cfg, seed=7
    )
    for a, b in zip(again, lm_sets):
        pd.testing.assert_frame_equal(a, b)


def test_fill_completions_cap_and_passthrough(lm_sets):
    _, retain = lm_sets
    calls = []

    def gen(prompts):
        calls.append(len(prompts))
        return [f"answer {i}" for i in range(len(prompts))]

    out = fill_completions(retain, gen, cap=5, seed=0)
    assert calls == [5] and out["completed"].sum() == 5 and len(out) == len(retain)
    assert out.loc[~out["completed"], "completion"].eq("").all()
    assert out.loc[out["completed"], "split"].eq("train").all()  # held-out rows never trained on
    passthrough = fill_completions(retain, None, cap=5, seed=0)
    assert passthrough["completion"].eq("").all() and not passthrough["completed"].any()


def test_config_errors():
    with pytest.raises(ValueError, match="unknown key"):
        LMSetConfig.from_params({"max_new_token": 3})
    with pytest.raises(ValueError, match="disjoint"):
        LMSetConfig.from_params({"train_templates": ["a {t}"], "heldout_templates": ["a {t}"]})
