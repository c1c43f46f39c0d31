"""Policy validation: errors name the key and what was expected."""

from __future__ import annotations

import copy

import pytest

from relsafe.policy import PolicyError, load_policy


def _bad(policy_data: dict, mutate) -> str:
    data = copy.deepcopy(policy_data)
    mutate(data)
    with pytest.raises(PolicyError) as exc:
        load_policy(data, source="test.yml")
    return str(exc.value)


def test_default_policy_is_valid_and_covers_issue(policy):
    ids = {r.id for r in policy.rules}
    assert {
        "minor_alcohol",
        "minor_smoking",
        "minor_drugs",
        "minor_weapon",
        "person_attacks_person",
    } <= ids
    attack = policy.classes[policy.rule("person_attacks_person").relation].lemmas
    assert {"stab", "shoot", "strangle", "beat", "kick", "push off"} <= set(attack)
    assert {"aim", "fire", "hold"} <= set(policy.classes["HANDLE_WEAPON"].lemmas)
    assert len(policy.digest()) == 64


def test_unknown_class_names_key_and_choices(policy_data):
    msg = _bad(policy_data, lambda d: d["rules"][0].update(object="ALCOHOLL"))
    assert "rules.0 (minor_alcohol).object" in msg
    assert "unknown class 'ALCOHOLL'" in msg and "did you mean 'ALCOHOL'" in msg
    assert "expected one of" in msg and "'MINOR'" in msg


def test_unknown_class_in_safe_variant(policy_data):
    msg = _bad(policy_data, lambda d: d["rules"][0]["safe_variants"][0].update(object="JUICES"))
    assert "rules.0 (minor_alcohol).safe_variants.0.object" in msg and "JUICES" in msg


def test_role_mismatch(policy_data):
    msg = _bad(policy_data, lambda d: d["rules"][0].update(relation="ALCOHOL"))
    assert (
        "rules.0 (minor_alcohol).relation" in msg and "expected a class with role 'relation'" in msg
    )


def test_empty_lexicon(policy_data):
    msg = _bad(policy_data, lambda d: d["classes"]["MINOR"].update(lemmas=[]))
    assert "classes.MINOR.lemmas" in msg and "must not be empty" in msg


def test_duplicate_rule_id(policy_data):
    msg = _bad(policy_data, lambda d: d["rules"].append(copy.deepcopy(d["rules"][0])))
    assert (
        "duplicate rule id 'minor_alcohol'" in msg
        and f"rules.{len(policy_data['rules'])}.id" in msg
    )


@pytest.mark.parametrize(
    ("mutate", "key", "expected"),
    [
        (
            lambda d: d["rules"][0].update(severty="high"),
            "rules.0.severty",
            "did you mean 'severity'",
        ),
        (
            lambda d: d["classes"]["MINOR"].update(lemma=["x"]),
            "classes.MINOR.lemma",
            "did you mean 'lemmas'",
        ),
        (
            lambda d: d.update(rulez=[]),
            "rulez",
            "expected one of ['version', 'partitives', 'classes', 'rules']",
        ),
        (
            lambda d: d["rules"][0]["safe_variants"][0].update(objet="SOFT_DRINK"),
            "safe_variants.0.objet",
            "did you mean 'object'",
        ),
    ],
)
def test_typo_key(policy_data, mutate, key, expected):
    msg = _bad(policy_data, mutate)
    assert key in msg and "unknown key" in msg and expected in msg


def test_bad_severity_lists_choices(policy_data):
    msg = _bad(policy_data, lambda d: d["rules"][0].update(severity="extreme"))
    assert "rules.0.severity" in msg and "'critical'" in msg


def test_missing_redirect_for_relation(policy_data):
    def mutate(d):
        d["rules"][3]["safe_variants"] = [
            v for v in d["rules"][3]["safe_variants"] if v.get("when") != ["fire"]
        ]

    msg = _bad(policy_data, mutate)
    assert "rules.3 (minor_weapon).safe_variants" in msg and "['fire']" in msg


def test_held_out_lemma_that_is_trained_elsewhere(policy_data):
    msg = _bad(policy_data, lambda d: d["classes"]["MINOR"]["held_out"].append("man"))
    assert "classes.MINOR.held_out" in msg and "'man'" in msg


def test_when_must_be_relation_lemma(policy_data):
    msg = _bad(policy_data, lambda d: d["rules"][0]["safe_variants"][0].update(when=["eat"]))
    assert "safe_variants.0.when" in msg and "not in relation class CONSUME" in msg


def test_not_a_mapping():
    with pytest.raises(PolicyError, match="expected a mapping"):
        load_policy([], source="x.yml")  # type: ignore[arg-type]


def test_shorthand_safe_object(policy_data):
    data = copy.deepcopy(policy_data)
    rule = data["rules"][0]
    rule.pop("safe_variants")
    rule["safe_object"] = "SOFT_DRINK"
    p = load_policy(data)
    assert p.rules[0].redirects("drink")[0].object == "SOFT_DRINK"
