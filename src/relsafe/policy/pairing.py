"""Paired gallery descriptions: the same scene told in other words.

Retrieval is evaluated *paired*: every eval query (embedded by the model under test) has one
gallery entry (embedded by the frozen base, the text stand-in for an image of the scene)
that describes the same scene in other words: other subject / object lemmas of the same
class, another relation lemma of the same class, another syntax, with or without a scene
around it. The gallery entry is never the query string itself, so base figures are
measured, not 1.0 by construction.

A swap that would change the scene's safety (a benign "a man drinking wine" whose subject
becomes "a boy") is refused by the policy matcher, so an unsafe query's gallery entry is
unsafe under the same rule and a benign one stays benign.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

from relsafe.policy.leakage import normalise_text
from relsafe.policy.matching import Matcher, triple_is_unsafe, triple_oro
from relsafe.policy.realise import EVAL_SYNTAXES, TRAIN_SYNTAXES, Triple, noun_phrase, realise
from relsafe.policy.schema import Rule

#: Every syntax :func:`relsafe.policy.realise.realise` knows.
GALLERY_SYNTAXES = (*TRAIN_SYNTAXES, *EVAL_SYNTAXES)


@dataclass(frozen=True)
class PairingSettings:
    """How far a gallery description strays from its query (``build_sets.gallery``)."""

    swap_share: float = 0.5  # chance a description swaps a word for another of its class
    max_swaps: int = 1  # at most this many of subject / relation / object are swapped
    context_share: float = 0.5  # chance the description sits inside a gallery scene
    scenes: tuple[str, ...] = ()  # "{t}" placeholders; distinct from the eval and training scenes
    marginal_templates: tuple[str, ...] = ("a photo of {np}", "a close-up of {np}")
    tries: int = 12


class Pairer:
    """Writes the paired gallery description of an eval row."""

    def __init__(self, matcher: Matcher, settings: PairingSettings) -> None:
        self.matcher = matcher
        self.policy = matcher.policy
        self.settings = settings

    @cached_property
    def _classes_of(self) -> dict[tuple[str, str], list[list[str]]]:
        """(lemma, role) -> lexicons (training + held-out) of the classes holding it, smallest first."""
        out: dict[tuple[str, str], list[list[str]]] = {}
        for c in self.policy.classes.values():
            lex = c.all_lemmas()
            for lem in lex:
                out.setdefault((lem, c.role), []).append(lex)
        for lexicons in out.values():
            lexicons.sort(key=len)
        return out

    def _swap(self, word: str, role: str, rng: random.Random) -> str:
        """Another lemma of the smallest class holding ``word`` (``word`` when it is in none)."""
        lexicons = self._classes_of.get((word, role))
        if not word or not lexicons:
            return word
        others = [w for w in lexicons[0] if w != word]
        return rng.choice(others) if others else word

    def _swapped(self, triple: Triple, rng: random.Random) -> Triple:
        """``triple`` with up to ``max_swaps`` words swapped, each with chance ``swap_share``."""
        out = list(triple)
        slots = [0, 1, 2]
        rng.shuffle(slots)
        for slot in slots[: self.settings.max_swaps]:
            if rng.random() < self.settings.swap_share:
                out[slot] = self._swap(out[slot], "relation" if slot == 1 else "entity", rng)
        return (out[0], out[1], out[2])

    def _keeps_safety(self, rule: Rule | None, triple: Triple, unsafe: bool) -> bool:
        if not unsafe:
            return not triple_is_unsafe(self.matcher, triple)
        if rule is None:
            return triple_is_unsafe(self.matcher, triple)
        allowed = rule.relation_objects.get(triple[1])
        if allowed is not None and triple[2] not in allowed:
            return False
        return self.matcher.match(rule, triple_oro(triple)) is not None

    def _scene(self, core: str, rng: random.Random) -> str:
        scenes = self.settings.scenes
        if scenes and rng.random() < self.settings.context_share:
            return rng.choice(scenes).format(t=core)
        return core

    def describe(
        self,
        triple: Triple,
        unsafe: bool,
        rng: random.Random,
        rule: Rule | None = None,
        query_syntax: str = "",
        avoid: set[str] | frozenset[str] = frozenset(),
    ) -> tuple[str, Triple]:
        """A description of the scene of ``triple`` in other words, and the triple it realises.

        ``avoid`` holds normalised texts the description must not be (every query string).
        Falls back to the unswapped triple in a fresh syntax; raises ``ValueError`` only when
        no wording at all differs from the avoided texts.
        """
        s, r, o = triple
        if not r:  # a marginal phrase: the subject or object alone
            return self._describe_marginal(s or o, "entity", rng, avoid), triple
        syntaxes = [x for x in GALLERY_SYNTAXES if x != query_syntax] or list(GALLERY_SYNTAXES)
        for attempt in range(self.settings.tries + len(syntaxes)):
            swapped = attempt < self.settings.tries
            cand = self._swapped(triple, rng) if swapped else triple
            if cand != triple and not self._keeps_safety(rule, cand, unsafe):
                continue
            syntax = rng.choice(syntaxes) if swapped else syntaxes[attempt - self.settings.tries]
            text = self._scene(realise(*cand, syntax=syntax), rng)
            if normalise_text(text) not in avoid:
                return text, cand
        raise ValueError(f"no gallery description of {triple} differs from the queries")

    def _describe_marginal(
        self, word: str, role: str, rng: random.Random, avoid: set[str] | frozenset[str]
    ) -> str:
        templates = list(self.settings.marginal_templates)
        for _ in range(self.settings.tries):
            swap = self.settings.max_swaps > 0 and rng.random() < self.settings.swap_share
            text = rng.choice(templates).format(
                np=noun_phrase(self._swap(word, role, rng) if swap else word)
            )
            if normalise_text(text) not in avoid:
                return text
        for tpl in templates:
            text = tpl.format(np=noun_phrase(word))
            if normalise_text(text) not in avoid:
                return text
        raise ValueError(f"no gallery description of {word!r} differs from the queries")
