"""Node: restore ``previous-champion`` as ``champion``."""

from __future__ import annotations

from relsafe.registry.aliases import registered_model_name
from relsafe.registry.promotion import rollback


def rollback_champion(model: dict, register_params: dict, params: dict) -> dict:
    """Roll the family's registered model back one promotion; returns the decision."""
    return rollback(
        registered_model_name(model.get("family", "encoder"), register_params),
        champion_alias=params.get("champion_alias", "champion"),
        previous_alias=params.get("previous_alias", "previous-champion"),
        lock=params.get("lock"),
    )
