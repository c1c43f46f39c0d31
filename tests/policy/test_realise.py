"""Realisation and caption substitution."""

from __future__ import annotations

import pytest

from relsafe.policy.realise import noun_phrase, realise, substitute


@pytest.mark.parametrize(
    ("triple", "syntax", "text"),
    [
        (("child", "drink", "wine"), "active", "a child drinking wine"),
        (("child", "drink", "wine"), "passive", "wine being drunk by a child"),
        (("child", "drink", "wine"), "relcl", "a child who drinks wine"),
        (("woman", "push off", "man"), "active", "a woman pushing a man off"),
        (("woman", "push off", "man"), "passive", "a man being pushed off by a woman"),
        (("boy", "play with", "ball"), "passive", "a ball being played with by a boy"),
        (("man", "stab", "man"), "active", "a man stabbing another man"),
        (("kid", "blow", "bubble"), "active", "a kid blowing bubbles"),
        (("child", "drink", "wine"), "plural_subject", "two children drinking wine"),
    ],
)
def test_realise(triple, syntax, text):
    assert realise(*triple, syntax=syntax) == text


def test_noun_phrase():
    assert noun_phrase("umbrella") == "an umbrella"
    assert noun_phrase("orange juice") == "orange juice"


def test_realise_unknown_syntax():
    with pytest.raises(ValueError, match="unknown syntax 'poem'"):
        realise("a", "b", "c", syntax="poem")


@pytest.mark.parametrize(
    ("text", "old", "new", "out"),
    [
        (
            "a young boy drinking beer from a bottle",
            ("young boy", "drink", "beer"),
            ("young boy", "drink", "juice"),
            "a young boy drinking juice from a bottle",
        ),
        (
            "a kid smoking a cigarette behind the school",
            ("kid", "smoke", "cigarette"),
            ("kid", "blow", "bubble"),
            "a kid blowing bubbles behind the school",
        ),
        (
            "a man being stabbed by a stranger",
            ("stranger", "stab", "man"),
            ("stranger", "hug", "man"),
            "a man being hugged by a stranger",
        ),
        (
            "a child holding a gun",
            ("child", "hold", "gun"),
            ("child", "hold", "umbrella"),
            "a child holding an umbrella",
        ),
    ],
)
def test_substitute(text, old, new, out):
    assert substitute(text, old, new) == out


def test_substitute_gives_up_on_particles():
    assert (
        substitute(
            "a woman pushing a man off a cliff",
            ("woman", "push off", "man"),
            ("woman", "hug", "man"),
        )
        is None
    )
