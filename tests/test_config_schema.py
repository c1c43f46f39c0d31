"""Strict params schemas: every conf env validates, and a typo or wrong type in any block is
named (issue 18 item 5)."""

from __future__ import annotations

import copy

import pytest
from tests_support import PROJECT_ROOT

from relsafe.config_schema import (
    ENCODER_TERM_KEYS,
    LM_TERM_KEYS,
    SCHEMAS,
    ConfigError,
    validate_params,
)


def env_params(env: str) -> dict:
    from relsafe.config_loader import RelsafeConfigLoader
    from relsafe.settings import CONFIG_LOADER_ARGS

    return RelsafeConfigLoader(str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)[
        "parameters"
    ]


@pytest.mark.parametrize("env", ["local", "lm"])
def test_every_conf_env_fits_the_schema(env):
    """A key added to conf/ but not to relsafe.config_schema fails here, loudly."""
    params = env_params(env)
    assert set(params) == set(SCHEMAS)
    validate_params(params, source=f"conf/{env}")


def _set(params: dict, dotted: str, value) -> dict:
    out = copy.deepcopy(params)
    *path, last = dotted.split(".")
    node = out
    for key in path:
        node = node[key]
    node[last] = value
    return out


@pytest.mark.parametrize(
    ("env", "key", "value", "message"),
    [
        ("local", "model.nmae_or_path", "x", "model.nmae_or_path: unknown key"),
        (
            "local",
            "model.family",
            "vision",
            "model.family: Input should be 'encoder', 'causal_lm' or 'vlm'",
        ),
        ("local", "extract_tuples.limt", 5, "extract_tuples.limt: unknown key"),
        ("local", "extract_tuples.limit", -5, "extract_tuples.limit: Input should be greater"),
        ("local", "extract_tuples.limit", 2.5, "extract_tuples.limit: Input should be a valid int"),
        ("local", "extract_tuples.dask.npartitons", 2, "extract_tuples.dask.npartitons: unknown"),
        ("local", "build_sets.forget_per_rul", 3, "build_sets.forget_per_rul: unknown key"),
        ("local", "build_sets.lm.heldout_fraction", 0.1, "build_sets.lm.heldout_fraction: unknown"),
        ("local", "build_sets.lm.twins.per_promt", 1, "build_sets.lm.twins.per_promt: unknown"),
        ("local", "train_edit.stpes", 5, "train_edit.stpes: unknown key"),
        ("local", "train_edit.learning_rate", 0.1, "train_edit.learning_rate: unknown key"),
        ("local", "train_edit.lr", "abc", "train_edit.lr: Input should be a valid number"),
        ("local", "train_edit.steps", "abc", "train_edit.steps: Input should be a valid integer"),
        ("local", "train_edit.lora.rank", 4, "train_edit.lora.rank: unknown key"),
        ("local", "train_edit.checkpoint.evry", 4, "train_edit.checkpoint.evry: unknown key"),
        ("local", "train_edit.early_stop.patiense", 4, "train_edit.early_stop.patiense: unknown"),
        ("local", "train_edit.baseline.enabeld", True, "train_edit.baseline.enabeld: unknown"),
        ("local", "train_edit.encoder.buckt", 4, "train_edit.encoder.buckt: unknown key"),
        (
            "local",
            "train_edit.encoder.terms.retain.weigth",
            1.0,
            "train_edit.encoder.terms.retain: Value error, unknown key(s) ['weigth'] for loss "
            "'encoder_retain'",
        ),
        (
            "local",
            "train_edit.encoder.terms.forget.loss",
            "no_such_loss",
            "unknown loss 'no_such_loss'",
        ),
        ("local", "train_edit.encoder.augment.copys", 1, "train_edit.encoder.augment.copys"),
        ("lm", "train_edit.causal_lm.max_prompt_tokes", 9, "causal_lm.max_prompt_tokes: unknown"),
        (
            "lm",
            "train_edit.causal_lm.terms.forget.bta",
            0.1,
            "unknown key(s) ['bta'] for loss 'lm_npo'",
        ),
        ("local", "evaluate_edit.suppresion_k", 5, "evaluate_edit.suppresion_k: unknown key"),
        ("local", "evaluate_edit.lm.max_new_token", 5, "evaluate_edit.lm.max_new_token: unknown"),
        ("local", "evaluate_edit.charts.bins", 5, "evaluate_edit.charts.bins: unknown key"),
        ("local", "register.allow_baselin", True, "register.allow_baselin: unknown key"),
        ("local", "register.copy_base", "sometimes", "register.copy_base: Input should be"),
        ("local", "promote.fail_on_rejct", True, "promote.fail_on_rejct: unknown key"),
        ("local", "suggest_policy.top", 5, "suggest_policy.top: unknown key"),
        ("local", "suggest_policy.model.knd", "x", "suggest_policy.model.knd: unknown key"),
        ("local", "train_edit.encoder.terms.forget.perturb_mod", "x", "perturb_mod"),
        (
            "local",
            "promote.gates.encoder.absolute.unsafe_r5",
            {"maximum": 0.1},
            "promote.gates.encoder.absolute.unsafe_r5.maximum: unknown key",
        ),
    ],
)
def test_a_typo_in_each_block_is_named(env, key, value, message):
    with pytest.raises(ConfigError) as exc:
        validate_params(_set(env_params(env), key, value))
    assert message in str(exc.value)


def test_method_options_stay_open():
    """Options of methods chosen by name need no schema change (judges, eval sub-blocks,
    loss options that the loss itself declares)."""
    params = env_params("local")
    params = _set(params, "evaluate_edit.relation_recognition.some_new_option", 3)
    params = _set(params, "evaluate_edit.lm.judge.some_judge_option", 3)
    params = _set(params, "train_edit.encoder.terms.forget.gap", 0.1)
    validate_params(params)


def test_unknown_block_is_named():
    with pytest.raises(ConfigError, match="train_edt: unknown params block"):
        validate_params({**env_params("local"), "train_edt": {}})


def test_term_keys_match_the_families():
    """The schema's lists of term keys follow the trainers' own."""
    from dataclasses import fields

    from relsafe.editing import encoder_edit, lm_edit

    assert set(encoder_edit._TERM_KEYS) == ENCODER_TERM_KEYS
    assert {f.name for f in fields(lm_edit.LMTermSpec)} - {"name", "options"} == LM_TERM_KEYS
