"""Nodes: gate the challenger against thresholds and the champion; move ``champion`` on pass."""

from __future__ import annotations

from relsafe.registry.aliases import registered_model_name
from relsafe.registry.errors import PromotionRejected
from relsafe.registry.promotion import promote


def promote_challenger(registered: dict, model: dict, register_params: dict, params: dict) -> dict:
    """Promote the version the last ``register`` run wrote (``registered_model``).

    ``promote.candidate_version`` overrides it; returns the decision.
    """
    family = model.get("family", "encoder")
    gates = (params.get("gates") or {}).get(family)
    if gates is None:
        raise KeyError(
            f"parameters_promote.yml: promote.gates.{family} is missing (model.family = {family!r})"
        )
    return promote(
        registered_model_name(family, register_params),
        gates,
        candidate_alias=params.get("candidate_alias", "challenger"),
        candidate_version=params.get("candidate_version") or registered.get("version"),
        champion_alias=params.get("champion_alias", "champion"),
        previous_alias=params.get("previous_alias", "previous-champion"),
        missing_champion_metric=params.get("missing_champion_metric", "fail"),
        lock=params.get("lock"),
    )


def enforce_decision(decision: dict, params: dict) -> None:
    """Fail the run on a rejected promotion (after the decision was saved), gate by gate."""
    if decision["decision"] != "rejected" or not params.get("fail_on_reject", True):
        return
    failed = [g["reason"] for g in decision["gates"] if not g["passed"]]
    raise PromotionRejected(
        f"{decision['model_name']} v{decision['candidate_version']} not promoted; "
        f"@champion stays v{decision['champion_before']}. Failed gates:\n  - "
        + "\n  - ".join(failed)
    )
