"""What every family's loss terms share: parsing the ``terms`` block and sampling each step's rows.

A family's term spec is a dataclass with at least ``name``, ``loss``, ``weight``,
``batch_size`` and ``options``; :func:`parse_term_block` reads the block (sorted by name, so
the order is stable), :func:`pick_rows` draws each active term's rows for one step from the
trainer's seeded generator (the same draws, in the same order, for every family).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from relsafe.editing.losses import get_loss


class TermLike(Protocol):
    name: str
    loss: str
    weight: float
    batch_size: int | None
    options: dict[str, Any]


def parse_term_block(
    block: Mapping[str, Any] | None,
    defaults: Mapping[str, Mapping[str, Any]],
    where: str,
    make_spec: Callable[[str, dict[str, Any], str], TermLike],
) -> list:
    """Term specs in a stable (sorted) order; ``make_spec(name, raw, where)`` builds one.

    Raises:
        ValueError: a term without ``loss``, or one ``make_spec`` refuses (naming the key);
            KeyError for a loss name that is not registered.
    """
    block = block or defaults
    specs = []
    for name in sorted(block):
        raw = dict(block[name] or {})
        if "loss" not in raw:
            raise ValueError(f"{where}.{name}: needs a `loss` (one of the registered losses)")
        spec = make_spec(name, raw, where)
        get_loss(spec.loss)  # fail early on unknown names
        specs.append(spec)
    return specs


def options_of(raw: Mapping[str, Any], term_keys: set[str] | frozenset[str]) -> dict[str, Any]:
    """The keys of a raw term that are not term keys: options passed to the loss."""
    return {k: v for k, v in raw.items() if k not in term_keys}


def pick_rows(
    specs: Sequence[TermLike],
    sizes: Mapping[str, int],
    weights: Mapping[str, float],
    rng: np.random.Generator,
    batch_size: int,
) -> Iterator[tuple[TermLike, np.ndarray]]:
    """Each active term with rows: ``(spec, sorted row indices)`` for this step.

    A term is active when its pool has rows and it has a non-zero weight (it is in
    ``weights``); it draws ``min(spec.batch_size or batch_size, pool size)`` rows without
    replacement. A term with a ``paired`` partner draws nothing here: its rows follow the
    partner's (the caller maps them).
    """
    for spec in specs:
        size = sizes[spec.name]
        if not size or spec.name not in weights or getattr(spec, "paired", None):
            continue
        n = min(spec.batch_size or batch_size, size)
        yield spec, np.sort(rng.choice(size, size=n, replace=False))
