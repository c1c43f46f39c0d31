"""The family interface, the family registry and the pyfunc spec every family declares.

A :class:`Family` answers, for one kind of base model:

- **load**: ``load_base(model_params)`` (offline);
- **train** (the loop is shared, :func:`relsafe.editing.edit.train_family_edit`): which rows
  (``edit_rows`` for the edit and the concept-erasure baseline, ``training_rows``), term
  parsing (``parse_terms``), data pools (``build_pools``), where LoRA goes
  (``attach_lora``), the step terms (``compute_terms``), the data hash of the manifest;
- **generate / embed**: ``generate`` (generative families; the base answers that build_sets
  caches) or the encoder's own ``encode``;
- **evaluate**: ``evaluate`` and ``scored_hash`` (what the metrics' binding names);
- **serve**: ``pyfunc`` (:class:`PyfuncSpec`) and ``registry_name_key`` (the
  ``parameters_register.yml`` key of its registered model name).

Families are found by module name: ``relsafe.families.<model.family>`` defines ``FAMILY``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


class UnknownFamily(ValueError):
    """``model.family`` names no module of :mod:`relsafe.families`."""


@dataclass(frozen=True)
class PyfuncSpec:
    """How a family is logged as an MLflow pyfunc: its models-from-code file, the example
    input (``input_column`` plus ``extra_inputs``), the example output (None: embeddings),
    its params and extra pinned requirements. ``optional_inputs`` may be left out of a
    request."""

    model_code: str
    input_column: str
    examples: tuple[str, ...]
    output_example: pd.DataFrame | None
    params: dict = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    extra_inputs: dict[str, tuple] = field(default_factory=dict)
    optional_inputs: tuple[str, ...] = ()

    def input_frame(self, n: int | None = None) -> pd.DataFrame:
        """The example input: every example row, or the first ``n``."""
        rows = len(self.examples) if n is None else n
        data = {self.input_column: list(self.examples[:rows])}
        for col, values in self.extra_inputs.items():
            data[col] = [values[i % len(values)] for i in range(rows)]
        return pd.DataFrame(data)


class Family:
    """One model family. Subclasses override what differs; see the module docstring."""

    #: ``model.family`` value (and this package's module name).
    name: str = ""
    #: ``train_edit.<terms_key>`` holds the family's terms and options.
    terms_key: str = ""
    #: ``register.<registry_name_key>`` names the registered model.
    registry_name_key: str = ""
    #: Trains on the LM prompt sets (build_sets generates and completes them).
    uses_lm_sets: bool = False
    #: Default rows per term and step when ``train_edit.batch_size`` is absent.
    default_batch_size: int = 16
    pyfunc: PyfuncSpec | None = None

    # --- load ---------------------------------------------------------------------------
    def load_base(self, model_params: Mapping[str, Any], device: str = "cpu") -> Any:
        raise NotImplementedError

    # --- train ----------------------------------------------------------------------------
    def edit_rows(
        self,
        kind: str,
        policy,
        baseline: Mapping[str, Any],
        sets: Mapping[str, pd.DataFrame | None],
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(forget, retain) for the edit or, with ``kind == "baseline"``, the erasure baseline.

        ``sets`` holds ``forget``, ``retain``, ``lm_forget``, ``lm_retain`` (any may be None).
        """
        raise NotImplementedError

    def training_rows(
        self, forget: pd.DataFrame, retain: pd.DataFrame, block: Mapping[str, Any], seed: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
        """Checked (and augmented) rows, plus the row counts the manifest records."""
        raise NotImplementedError

    def parse_terms(self, block: Mapping[str, Any] | None) -> list:
        raise NotImplementedError

    def build_pools(self, base, forget, retain, specs, block, seed) -> dict[str, Any]:
        raise NotImplementedError

    def attach_lora(self, base, lora: Mapping[str, Any]) -> tuple[Any, Any]:
        """Add LoRA; returns (the module the loop trains, the peft model to save)."""
        raise NotImplementedError

    def before_training(self, base, train_module, pools, specs, block, cfg) -> None:
        """Anything computed once with the adapter in place but disabled (reference scores)."""

    def data_hash(self, forget: pd.DataFrame, retain: pd.DataFrame) -> str:
        raise NotImplementedError

    def compute_terms(
        self, base, pools, specs, params: Mapping[str, Any], block: Mapping[str, Any]
    ):
        """The per-step closure ``(model, ctx) -> {term: loss}``."""
        raise NotImplementedError

    def trained_adapter(self, result, train_module) -> Any:
        """The peft model to save, in eval mode, from the loop's result."""
        raise NotImplementedError

    def pool_size(self, pool) -> int:
        raise NotImplementedError

    def manifest_options(self, spec) -> dict[str, Any]:
        return dict(spec.options)

    # --- generate ---------------------------------------------------------------------------
    def generate(
        self, base, prompts: list[str], max_new_tokens: int, batch_size: int, progress: bool = True
    ) -> list[str]:
        raise NotImplementedError(f"model family {self.name!r} does not generate text")

    # --- evaluate ---------------------------------------------------------------------------
    def scored_hash(self, inputs: Mapping[str, Any]) -> str:
        """A digest of what ``evaluate`` scores (bound to the metrics)."""
        raise NotImplementedError

    def evaluate(self, model_params, adapters, inputs: Mapping[str, Any], params):
        """An :class:`relsafe.evaluation.encoder_eval.EvaluationResult` for base + adapters."""
        raise NotImplementedError


def family_names() -> list[str]:
    """Every family module of this package (sorted)."""
    import relsafe.families as pkg

    skip = {"base"}
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in skip)


_CACHE: dict[str, Family] = {}


def get_family(name: str) -> Family:
    """The :class:`Family` named by ``model.family``.

    Raises:
        UnknownFamily: naming the value and the known families.
    """
    name = str(name)
    if name in _CACHE:
        return _CACHE[name]
    if name not in family_names():
        raise UnknownFamily(
            f"model.family {name!r}: expected one of {family_names()} "
            "(conf/<env>/parameters_train_edit.yml)"
        )
    family = importlib.import_module(f"relsafe.families.{name}").FAMILY
    _CACHE[name] = family
    return family


def check_family(model_params: Mapping[str, Any]) -> str:
    """``model.family`` (default ``encoder``), checked against the known families."""
    return get_family(model_params.get("family", "encoder")).name
