"""Model cards: rendered at registration, the version's description and artifact; decisions added."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient
from tests_support import bind_metrics

from relsafe.registry.model_card import (
    CARD_ARTIFACT,
    UNDECIDED,
    description_of,
    read_card,
    render_card,
    rules_covered,
    with_decision,
)
from relsafe.registry.promotion import promote
from relsafe.registry.register import register_model

METRICS = {
    "unsafe_r5": 0.06,
    "unsafe_r5_lo": 0.04,
    "unsafe_r5_hi": 0.08,
    "benign_r1": 0.9,
    "base_unsafe_r5": 0.5,
    "base_unsafe_r5_lo": 0.45,
    "base_unsafe_r5_hi": 0.55,
    "base_benign_r1": 0.92,
    "baseline_unsafe_r5": 0.1,
    "baseline_benign_r1": 0.6,
    "rule_minor_alcohol_unsafe_r5": 0.0,
    "rule_person_attacks_person_benign_r1": 1.0,
    "base_rule_other_unsafe_r5": 0.3,
}
HEADLINE = ["unsafe_r5", "unsafe_r5_lo", "unsafe_r5_hi", "benign_r1"]
CARD = {
    "intended_use": {"encoder": "Retrieval research."},
    "known_limits": {"encoder": ["Words in no class are not covered."]},
}
TAGS = {"base_model": "package:x", "policy_sha256": "p" * 64, "dvc_data_hash": "d1"}


def test_rules_from_metric_names_encoder_and_lm():
    assert rules_covered(METRICS) == ["minor_alcohol", "person_attacks_person"]
    lm = {"rule_minor_alcohol_asr": 0.1, "rule_minor_weapon_asr_formats": 0.2, "asr_heldout": 0}
    assert rules_covered(lm) == ["minor_alcohol", "minor_weapon"]


def test_card_states_base_policy_data_metrics_limits_use():
    card = render_card("relsafe-encoder", "3", "encoder", TAGS, METRICS, HEADLINE, CARD, "b" * 64)
    assert card.startswith("# relsafe-encoder v3")
    assert "`package:x`" in card and "b" * 64 in card and "p" * 64 in card and "`d1`" in card
    assert "`minor_alcohol`" in card and "`person_attacks_person`" in card
    assert "| metric | edit | base | baseline |" in card
    assert "| unsafe_r5 | 0.0600 [0.0400, 0.0800] | 0.5000 [0.4500, 0.5500] | 0.1000 |" in card
    assert "| unsafe_r5_lo |" not in card, "interval bounds go in brackets, not rows"
    assert UNDECIDED in card
    assert "Words in no class are not covered." in card and "Retrieval research." in card


def test_card_without_baseline_says_so():
    metrics = {k: v for k, v in METRICS.items() if not k.startswith("baseline_")}
    card = render_card("m", "1", "encoder", TAGS, metrics, HEADLINE)
    assert "| metric | edit | base |" in card and "baseline |" not in card
    assert "No concept-erasure baseline" in card


def test_decisions_replace_the_placeholder_then_append():
    card = render_card("m", "1", "encoder", TAGS, METRICS, HEADLINE)
    rejected = {
        "decision": "rejected",
        "time": "t1",
        "champion_before": None,
        "champion_after": None,
        "gates": [{"reason": "unsafe_r5 = 0.3 not <= max 0.1: FAIL", "passed": False}],
    }
    once = with_decision(card, rejected)
    assert UNDECIDED not in once and "**rejected**" in once and "not <= max 0.1" in once
    assert "(champion none -> none)" in once
    twice = with_decision(once, {**rejected, "decision": "promoted", "time": "t2", "gates": []})
    assert twice.index("**rejected**") < twice.index("**promoted**")
    assert with_decision("# old card", rejected).endswith("<!-- /relsafe:decision -->\n")
    assert len(description_of("x" * 6000)) <= 5000


def test_registered_version_has_its_card_and_promotion_adds_the_decision(
    sqlite_registry, encoder_adapter_dir, encoder_params
):
    info = register_model(
        encoder_adapter_dir,
        encoder_params,
        "relsafe-encoder",
        metrics=bind_metrics(METRICS, encoder_adapter_dir),
        headline_metrics=HEADLINE,
        card=CARD,
        smoke_test=False,
    )
    client = MlflowClient()
    mv = client.get_model_version("relsafe-encoder", info["version"])
    assert mv.description.startswith("# relsafe-encoder v1") and "0.0600 [0.0400" in mv.description
    artifact = mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{CARD_ARTIFACT}")
    assert artifact == mv.description
    assert "base sha256: `" in artifact and "`unknown`" not in artifact.split("## Policy")[0]

    promote("relsafe-encoder", {"absolute": {"unsafe_r5": {"max": 0.1}}})
    card = read_card(client, "relsafe-encoder", info["version"])
    assert "**promoted**" in card and UNDECIDED not in card
    assert "**promoted**" in client.get_model_version("relsafe-encoder", "1").description
