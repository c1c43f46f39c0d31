"""Nodes: gate the challenger against thresholds and the champion; move ``champion`` on pass."""

from __future__ import annotations

import logging

from relsafe.registry.aliases import registered_model_name
from relsafe.registry.errors import PromotionRejected
from relsafe.registry.promotion import promote

logger = logging.getLogger(__name__)


def promote_challenger(registered: dict, model: dict, register_params: dict, params: dict) -> dict:
    """Promote what the registry calls ``@challenger`` (``promote.candidate_alias``), or the
    explicit ``promote.candidate_version``; returns the decision.

    ``registered`` (the last local ``register`` run's output) only orders this node after
    ``register`` in the scheduled chain; it never chooses the candidate, because another
    process may have registered (and moved ``@challenger``) since.
    """
    family = model.get("family", "encoder")
    gates = (params.get("gates") or {}).get(family)
    if gates is None:
        raise KeyError(
            f"parameters_promote.yml: promote.gates.{family} is missing (model.family = {family!r})"
        )
    decision = promote(
        registered_model_name(family, register_params),
        gates,
        candidate_alias=params.get("candidate_alias", "challenger"),
        candidate_version=params.get("candidate_version"),
        champion_alias=params.get("champion_alias", "champion"),
        previous_alias=params.get("previous_alias", "previous-champion"),
        missing_champion_metric=params.get("missing_champion_metric", "fail"),
        lock=params.get("lock"),
    )
    local = (registered or {}).get("version")
    if local and str(local) != str(decision["candidate_version"]):
        logger.info(
            "the registry's candidate is v%s; the local registered_model.json names v%s "
            "(registered elsewhere since), which is ignored",
            decision["candidate_version"],
            local,
        )
    return decision


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
