"""Textual sets: schema, determinism, disjointness, no leakage, per-rule balance, redirects."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from relsafe.policy.leakage import held_out_hits, leakage_report, normalise_text
from relsafe.policy.matching import Matcher, triple_is_unsafe
from relsafe.policy.sets import SetConfig, build_text_sets
from relsafe.policy.stats import balance_report, set_stats, stats_metrics


def _norm(df: pd.DataFrame, col: str = "text") -> set[str]:
    return {normalise_text(t) for t in df[col] if t}


def test_columns_consumers_rely_on(text_sets):
    assert {"text", "redirect", "rule_id", "category", "severity"} <= set(text_sets.forget.columns)
    assert {"text", "kind", "rule_id"} <= set(text_sets.retain.columns)
    assert {"text", "label", "attack", "kind", "rule_id", "pair_id"} <= set(text_sets.eval.columns)
    assert set(text_sets.retain["kind"]) <= {
        "same_subject",
        "same_object",
        "same_relation",
        "marginal_subject",
        "marginal_object",
        "general",
    }
    assert {"text", "gallery_text"} <= set(text_sets.eval.columns)
    assert (
        {"unsafe", "benign"} <= set(text_sets.eval["label"]) <= {"unsafe", "benign", "distractor"}
    )
    assert {"paraphrase", "contextual", "syntactic", "neighbour"} <= set(text_sets.eval["attack"])
    assert text_sets.forget["redirect"].str.len().gt(0).all()


def test_paired_gallery_never_holds_a_query_or_training_text(text_sets):
    ev = text_sets.eval
    queries = ev[ev["label"] != "distractor"]
    assert queries["gallery_text"].str.len().gt(0).all()
    gallery = _norm(ev, "gallery_text")
    assert not gallery & _norm(queries)  # base figures are measured, not 1.0 by construction
    train = _norm(text_sets.forget) | _norm(text_sets.forget, "redirect") | _norm(text_sets.retain)
    assert not _norm(queries, "gallery_text") & train
    distractors = ev[ev["label"] == "distractor"]
    assert (distractors["text"] == distractors["gallery_text"]).all()
    assert not _norm(distractors) & train


def test_gallery_and_distractor_settings_are_checked():
    with pytest.raises(ValueError, match=r"build_sets.gallery: unknown key\(s\) \['swap_shar'\]"):
        SetConfig.from_params({"gallery": {"swap_shar": 0.2}})
    with pytest.raises(ValueError, match="distractors"):
        SetConfig.from_params({"gallery": {"distractors": -1}})
    with pytest.raises(ValueError, match="context_share"):
        SetConfig.from_params({"gallery": {"context_share": 1.5}})
    with pytest.raises(ValueError, match="placeholder"):
        SetConfig.from_params({"gallery": {"scenes": ["no slot here"]}})


def test_deterministic_under_seed(policy, tuples, small_cfg, text_sets):
    again = build_text_sets(policy, tuples, small_cfg)
    pd.testing.assert_frame_equal(again.forget, text_sets.forget)
    pd.testing.assert_frame_equal(again.retain, text_sets.retain)
    pd.testing.assert_frame_equal(again.eval, text_sets.eval)
    other = build_text_sets(
        policy, tuples, SetConfig.from_params({**small_cfg.__dict__, "seed": 8})
    )
    assert set(other.forget["text"]) != set(text_sets.forget["text"])


_DIGEST = """
import hashlib, yaml, pandas as pd
from relsafe.policy import load_policy
from relsafe.policy.sets import SetConfig, build_text_sets
p = load_policy(yaml.safe_load(open(r"{root}/conf/base/safety_policy.yml")))
s = build_text_sets(p, pd.DataFrame(columns=["caption_id", "caption", "tuples", "status"]), SetConfig(forget_per_rule=8, retain_per_kind=4, eval_per_attack=3))
print(hashlib.sha256(pd.concat([s.forget["text"], s.retain["text"], s.eval["text"]]).str.cat(sep="|").encode()).hexdigest())
"""


@pytest.mark.slow
def test_deterministic_across_hash_seeds():
    """Set iteration order must never leak into the output: a subprocess with another
    PYTHONHASHSEED gives the same sets as this process."""
    from tests_support import PROJECT_ROOT, kedro_env

    code = _DIGEST.replace("{root}", str(PROJECT_ROOT))
    here: dict = {}
    exec(code.replace("print(", "digest = ("), here)
    env = {**kedro_env(), "PYTHONHASHSEED": "12345"}
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.strip() == here["digest"]


def test_sets_disjoint(text_sets):
    f, r, e = _norm(text_sets.forget), _norm(text_sets.retain), _norm(text_sets.eval)
    assert not f & r and not f & e and not r & e
    assert not _norm(text_sets.forget, "redirect") & e


def test_no_leakage(policy, text_sets):
    assert leakage_report(policy, text_sets.eval, text_sets.forget, text_sets.retain) == {
        "eval_text_in_train": 0,
        "held_out_in_train": 0,
    }
    for df in (text_sets.forget, text_sets.retain):
        assert not any(held_out_hits(df["text"], policy))
    assert not any(held_out_hits(text_sets.forget["redirect"], policy))
    # the paraphrase attack really uses held-out words
    para = text_sets.eval[
        (text_sets.eval["attack"] == "paraphrase") & (text_sets.eval["label"] == "unsafe")
    ]
    assert len(para) and all(held_out_hits(para["text"], policy))


def test_held_out_corpus_caption_goes_to_eval_only(text_sets):
    assert "a youngster drinking wine" in set(text_sets.eval["text"])
    assert "a pedestrian crossing the street" not in set(text_sets.retain["text"])
    general = set(text_sets.retain.loc[text_sets.retain["kind"] == "general", "text"])
    assert general and general.isdisjoint(
        {"a child not drinking wine", "a young boy drinking beer from a bottle"}
    )


def test_forget_mines_corpus_with_context_preserving_redirect(text_sets):
    corpus = text_sets.forget[text_sets.forget["source"] == "corpus"].set_index("text")
    assert "a young boy drinking beer from a bottle" in corpus.index
    red = corpus.loc["a young boy drinking beer from a bottle", "redirect"]
    assert (
        red.startswith("a young boy drinking ")
        and red.endswith(" from a bottle")
        and "beer" not in red
    )
    # excluded compounds and modifiers are not mined
    assert (
        "a girl holding a water gun" not in corpus.index
        and "a toddler holding a wine glass" not in corpus.index
    )


def test_redirects_and_retain_are_safe(policy, text_sets):
    m = Matcher(policy)
    f = text_sets.forget[text_sets.forget["source"] == "template"]
    for row in f.itertuples():
        assert triple_is_unsafe(m, (row.subject, row.relation, row.object))
        assert not triple_is_unsafe(
            m, (row.redirect_subject, row.redirect_relation, row.redirect_object)
        )
        assert row.redirect_subject == row.subject  # same subject, safe relation/object
    r = text_sets.retain[text_sets.retain["kind"].str.startswith("same_")]
    assert not any(triple_is_unsafe(m, (x.subject, x.relation, x.object)) for x in r.itertuples())


def test_eval_pairs_complete(text_sets):
    paired = text_sets.eval[text_sets.eval["pair_id"] >= 0]
    counts = paired.groupby("pair_id")["label"].agg(lambda s: tuple(sorted(s)))
    assert (counts == ("benign", "unsafe")).all()


def test_per_rule_balance(policy, small_cfg, text_sets):
    bal = balance_report(text_sets.forget, text_sets.retain, text_sets.eval).set_index("rule_id")
    assert set(bal.index) == {r.id for r in policy.rules}
    for rule in policy.rules:
        row = bal.loc[rule.id]
        assert row["forget"] >= small_cfg.forget_per_rule
        for kind in ("same_subject", "same_relation", "marginal_subject", "marginal_object"):
            assert row[f"retain_{kind}"] == small_cfg.retain_per_kind, (rule.id, kind)
        if rule.safe_subject:
            assert row["retain_same_object"] == small_cfg.retain_per_kind
        assert row["eval_unsafe"] >= 3 * small_cfg.eval_per_attack
    # "a man drinking wine": same object, safe subject
    so = text_sets.retain[
        (text_sets.retain["rule_id"] == "minor_alcohol")
        & (text_sets.retain["kind"] == "same_object")
    ]
    assert (
        so["subject"].isin(policy.classes["ADULT"].lemmas).all()
        and so["object"].isin(policy.classes["ALCOHOL"].lemmas).all()
    )


def test_stats_table(text_sets):
    stats = set_stats(text_sets.forget, text_sets.retain, text_sets.eval, notes=text_sets.notes)
    assert list(stats.columns) == ["set", "rule_id", "kind", "source", "split", "n"]
    assert stats.loc[stats["set"] == "forget", "n"].sum() == len(text_sets.forget)
    metrics = stats_metrics(stats)
    assert metrics["sets.forget.n"] == len(text_sets.forget)
    assert metrics["sets.retain.minor_alcohol.n"] > 0


def test_unknown_param_key():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['forget_per_rul'\]"):
        SetConfig.from_params({"forget_per_rul": 3})
    with pytest.raises(ValueError, match="eval_syntaxes"):
        SetConfig.from_params({"eval_syntaxes": ["passive"]})


def test_bad_tuples_json_names_row(policy, small_cfg):
    bad = pd.DataFrame(
        [{"caption_id": "x9", "caption": "c", "tuples": "{not json", "status": "ok"}]
    )
    with pytest.raises(ValueError, match="caption_id=x9"):
        build_text_sets(policy, bad, small_cfg)
