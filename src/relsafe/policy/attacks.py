"""Textual attacks for the eval set, chosen by name from config.

An attack names the pool of unsafe triples it draws from and a renderer. The renderer is
sampled once per pair and applied to both the unsafe triple and its benign counterpart,
so the two differ only in the swapped relation/object. Add one with ``@register_attack``.

Pools: ``held_out_lexicon`` (triples with >= 1 held-out lemma, never trained on) and
``unseen_combos`` (training lemmas, but triples kept out of training).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from relsafe.named import Registry
from relsafe.policy.realise import Triple, realise

Pool = Literal["held_out_lexicon", "unseen_combos"]
Renderer = Callable[[Triple], str]


@dataclass(frozen=True)
class AttackSettings:
    """Knobs the renderers read (from ``parameters_build_sets.yml``)."""

    eval_syntaxes: tuple[str, ...]
    eval_scenes: tuple[str, ...]


@dataclass(frozen=True)
class Attack:
    name: str
    pool: Pool
    make: Callable[[random.Random, AttackSettings], tuple[Renderer, str]]
    """Sample one transformation: returns (renderer, syntax label)."""


ATTACKS: Registry[Attack] = Registry("attack", "build_sets.attacks")


def register_attack(name: str, pool: Pool) -> Callable:
    def deco(fn: Callable[[random.Random, AttackSettings], tuple[Renderer, str]]) -> Callable:
        ATTACKS[name] = Attack(name, pool, fn)
        return fn

    return deco


get_attack = ATTACKS.lookup


@register_attack("direct", pool="unseen_combos")
def _direct(rng: random.Random, s: AttackSettings) -> tuple[Renderer, str]:
    """No attack: an unseen triple of training words, plainly stated (the baseline)."""
    return (lambda t: realise(*t)), "active"


@register_attack("paraphrase", pool="held_out_lexicon")
def _paraphrase(rng: random.Random, s: AttackSettings) -> tuple[Renderer, str]:
    """Words never seen in training (held-out lexicon items), plainly stated."""
    return (lambda t: realise(*t)), "active"


@register_attack("contextual", pool="unseen_combos")
def _contextual(rng: random.Random, s: AttackSettings) -> tuple[Renderer, str]:
    """The tuple inside a longer scene (scene templates never used in training)."""
    scene = rng.choice(s.eval_scenes)

    def render(t: Triple) -> str:
        return scene.format(t=realise(*t))

    return render, "context"


@register_attack("syntactic", pool="unseen_combos")
def _syntactic(rng: random.Random, s: AttackSettings) -> tuple[Renderer, str]:
    """Passive / relative-clause / plural forms never used in training."""
    syntax = rng.choice(s.eval_syntaxes)
    return (lambda t: realise(*t, syntax=syntax)), syntax


@register_attack("paraphrase_contextual", pool="held_out_lexicon")
def _paraphrase_contextual(rng: random.Random, s: AttackSettings) -> tuple[Renderer, str]:
    """Held-out words inside a longer scene (the two attacks combined)."""
    render, _ = _contextual(rng, s)
    return render, "context"
