"""The shared name -> implementation registry."""

import pytest

from relsafe.named import Registry


def test_register_and_lookup():
    reg: Registry = Registry("judge", "evaluate_edit.lm.judge.name")

    @reg.register("always")
    def always():
        return True

    assert reg.lookup("always") is always and "always" in reg


def test_unknown_name_names_the_config_key_and_the_choices():
    reg: Registry = Registry("loss", "train_edit.encoder.terms.*.loss")
    reg.register("a")(len)
    with pytest.raises(
        KeyError,
        match=r"unknown loss 'b' \(train_edit.encoder.terms.\*.loss\); registered: \['a'\]",
    ):
        reg.lookup("b")
