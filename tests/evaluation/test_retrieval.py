"""Retrieval / drift math on hand-made embeddings."""

import numpy as np
import pandas as pd
import pytest

from relsafe.evaluation.encoder_eval import (
    compare_encoder_variants,
    encoder_metrics,
    variant_metrics,
)
from relsafe.evaluation.retrieval import drift, recall_at_k, target_rank, top1


def test_recall_at_k_and_rank():
    gallery = np.eye(3)
    queries = np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0.2, 1.0]])
    hits = recall_at_k(queries, gallery, np.arange(3), ks=(1, 2))
    assert hits[1].tolist() == [1.0, 0.0, 1.0]
    assert hits[2].tolist() == [1.0, 1.0, 1.0]
    assert target_rank(queries, gallery, np.arange(3)).tolist() == [0, 1, 0]
    assert top1(queries, gallery).tolist() == [0, 0, 2]


def test_drift_is_one_minus_cosine():
    base = np.array([[1.0, 0.0], [0.0, 2.0]])
    edited = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert np.allclose(drift(edited, base), [0.0, 1.0])


def _toy():
    """4 queries (2 unsafe + 2 benign, one rule each) + 1 distractor; the edit breaks rule a's
    unsafe row only. Returns (eval_set, base query emb, edit query emb, gallery emb)."""
    eval_set = pd.DataFrame(
        {
            "text": ["u_a", "b_a", "u_b", "b_b", "d"],
            "gallery_text": ["u_a'", "b_a'", "u_b'", "b_b'", "d"],
            "label": ["unsafe", "benign", "unsafe", "benign", "distractor"],
            "attack": ["paraphrase", "paraphrase", "paraphrase", "neighbour", "distractor"],
            "kind": ["unsafe", "counterpart", "unsafe", "same_object", "distractor"],
            "rule_id": ["a", "a", "b", "b", ""],
            "category": ["subst", "subst", "weap", "weap", ""],
        }
    )
    gallery = np.eye(5)
    base = np.eye(5) * 0.9 + 0.05  # each query near its own paired entry, not equal to it
    base[3] = [0, 0, 0, 0.6, 0.8]  # benign b's base is nearer the distractor than its pair
    edit = base.copy()
    edit[0] = [0, 1, 0, 0, 0]  # unsafe a now retrieves benign a
    return eval_set, base, edit, gallery


def test_paired_protocol_measures_the_base():
    """The base's hits are measured against the paired entries, not true by construction."""
    eval_set, base, _, gallery = _toy()
    m, rows = variant_metrics(eval_set, base, base, gallery, ks=(1,))
    assert m["benign_r1"] == 0.5  # b_b's base retrieves the distractor
    assert m["self_benign_r1"] == 1.0  # self-retrieval stays a separate, secondary figure
    assert len(rows) == 4 and "distractor" not in set(rows["label"])
    assert m["n_gallery"] == 5.0
    assert m["benign_r1_lo"] <= m["benign_r1"] <= m["benign_r1_hi"]


def test_variant_metrics_groups():
    eval_set, base, edit, gallery = _toy()
    m, rows = variant_metrics(eval_set, base, edit, gallery, ks=(1,))
    assert m["unsafe_r1"] == 0.5 and m["benign_r1"] == 0.5
    assert m["rule_a_unsafe_r1"] == 0.0 and m["rule_b_unsafe_r1"] == 1.0
    assert m["cat_subst_unsafe_r1"] == 0.0
    assert m["cat_subst_unsafe_r1_hi"] == 0.0 and m["cat_weap_unsafe_r1_lo"] == 1.0
    assert m["neighbour_same_object_r1"] == 0.0
    assert m["unsafe_paraphrase_r1"] == 0.5
    assert m["unsafe_drift"] > 0.3
    assert m["benign_drift"] == pytest.approx(0.0)
    assert list(rows["r1"]) == [0.0, 1.0, 1.0, 0.0]


def test_encoder_metrics_keeps_flat_names():
    eval_set, base, edit, gallery = _toy()
    m, rows = encoder_metrics(eval_set, base, edit, gallery, ks=(1, 5))
    for key in (
        "unsafe_r1",
        "unsafe_r5",
        "benign_r1",
        "base_benign_r1",
        "benign_r1_ratio",
        "benign_drift",
        "unsafe_paraphrase_r5",
    ):
        assert key in m, key
    assert m["base_unsafe_r1"] == 1.0 and m["benign_r1_ratio"] == 1.0
    assert "unsafe_r5_lo" in m and "base_unsafe_r5_hi" in m
    assert not any("@" in k for k in m)
    assert len(rows) == 4 and "edit_r1" in rows and "base_r1" in rows


def test_compare_variants_per_rule_marginals_and_examples():
    eval_set, base, edit, gallery = _toy()
    baseline = base.copy()
    baseline[1] = [0, 0, 1, 0, 0]  # erasure breaks a benign row
    marg_base = np.array([[1.0, 0], [0, 1.0]])
    marg = {"base": marg_base, "edit": marg_base, "baseline": np.array([[0, 1.0], [0, 1.0]])}
    res = compare_encoder_variants(
        eval_set,
        base,
        {"edit": edit, "baseline": baseline},
        gallery,
        ks=(1,),
        marginal_texts=["a child", "wine"],
        marginal_emb=marg,
        marginal_rules=["a", "a"],
    )
    m = res.metrics
    assert m["marginal_drift"] == 0.0 and m["baseline_marginal_drift"] == pytest.approx(0.5)
    assert m["baseline_self_marginal_r1"] == 0.5
    assert m["baseline_benign_r1"] == 0.0
    pr = res.per_rule.set_index(["rule_id", "variant"])
    assert (
        pr.loc[("a", "edit"), "suppression"] == 1.0 and pr.loc[("a", "edit"), "collateral"] == 0.0
    )
    assert pr.loc[("a", "baseline"), "collateral"] == 1.0
    assert set(res.drift["group"]) == {"unsafe", "benign", "marginal"}
    assert set(res.drift["variant"]) == {"edit", "baseline"}
    ex = res.examples.set_index("query")
    assert ex.loc["u_a", "target"] == "u_a'"
    assert ex.loc["u_a", "base_top1"] == "u_a'" and ex.loc["u_a", "edit_top1"] == "b_a'"
    assert not ex.loc["u_a", "edit_hit"]


def test_mismatched_embeddings_name_the_problem():
    eval_set, base, edit, gallery = _toy()
    with pytest.raises(ValueError, match="3 embeddings for 5 eval rows"):
        variant_metrics(eval_set, base, edit[:3], gallery)


def test_eval_set_without_gallery_text_says_how_to_rebuild():
    eval_set, base, edit, gallery = _toy()
    with pytest.raises(ValueError, match="gallery_text.*build_sets"):
        variant_metrics(eval_set.drop(columns=["gallery_text"]), base, edit, gallery)
