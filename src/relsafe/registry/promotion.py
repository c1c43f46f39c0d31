"""Gated promotion ``challenger`` -> ``champion`` and rollback to ``previous-champion``.

Both run under :class:`~relsafe.registry.lock.RegistryLock`, re-read the aliases inside the
lock (so a racing promotion is compared against the champion it just set), re-check the
lock before every write, and re-read the aliases after writing. Every decision is tagged on
the candidate version (``promotion.*``) and on the registered model (``promotion.last``), and
added to the version's model card (:func:`relsafe.registry.model_card.record_decision`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime, timezone

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from relsafe.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    alias_version,
    ensure_store,
    get_registered_model,
    version_by_alias,
)
from relsafe.registry.binding import comparable
from relsafe.registry.errors import NothingToRollBack, PromotionConflict, RegistryError
from relsafe.registry.gates import GateResult, evaluate_gates
from relsafe.registry.lock import RegistryLock
from relsafe.registry.model_card import record_decision

logger = logging.getLogger(__name__)

DECISION_TAG, REASONS_TAG, TIME_TAG = "promotion.decision", "promotion.reasons", "promotion.time"
REPLACED_TAG, ROLLED_BACK_TAG, LAST_TAG = (
    "promotion.replaced",
    "promotion.rolled_back",
    "promotion.last",
)
METRIC_TAG_PREFIX = "metric."


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def version_metrics(client: MlflowClient, mv: ModelVersion) -> dict[str, float]:
    """Metrics of a version: its run's metrics, overridden by its ``metric.<name>`` tags."""
    metrics: dict[str, float] = {}
    if mv.run_id:
        try:
            metrics.update(client.get_run(mv.run_id).data.metrics)
        except MlflowException:
            logger.warning(
                "run %s of %s v%s is gone; using version tags only", mv.run_id, mv.name, mv.version
            )
    for key, value in (mv.tags or {}).items():
        if key.startswith(METRIC_TAG_PREFIX):
            try:
                metrics[key[len(METRIC_TAG_PREFIX) :]] = float(value)
            except ValueError:
                continue
    return metrics


def gate_candidate(
    client: MlflowClient,
    model_name: str,
    cand: ModelVersion,
    champion: str | None,
    gates: dict,
    champion_label: str = CHAMPION,
    missing_champion_metric: str = "fail",
) -> list[GateResult]:
    """Every gate's verdict on version ``cand`` against version ``champion`` (None: no
    champion yet), as :func:`promote` decides it: the no-regression gates compare only
    versions scored on the same eval set and policy, and a rolled-back version fails."""
    champ_metrics, incomparable = None, None
    if champion is not None:
        champ_mv = client.get_model_version(model_name, champion)
        champ_metrics = version_metrics(client, champ_mv)
        incomparable = comparable(cand.tags or {}, champ_mv.tags or {})
    results = evaluate_gates(
        version_metrics(client, cand),
        champ_metrics,
        gates,
        champion_label,
        missing_champion_metric,
        incomparable,
    )
    if (cand.tags or {}).get(ROLLED_BACK_TAG):
        results.append(
            GateResult(
                "not_rolled_back",
                "-",
                False,
                f"v{cand.version} was rolled back at {cand.tags[ROLLED_BACK_TAG]}; register a new version",
            )
        )
    return results


def _set_alias(
    client: MlflowClient, lock: RegistryLock, name: str, alias: str, version: str | None
) -> None:
    lock.check()
    if version is None:
        with contextlib.suppress(MlflowException):
            client.delete_registered_model_alias(name, alias)
    else:
        client.set_registered_model_alias(name, alias, version)


def _verify_aliases(client: MlflowClient, name: str, expected: dict[str, str | None]) -> None:
    got = {alias: alias_version(client, name, alias) for alias in expected}
    if got != expected:
        raise PromotionConflict(
            f"{name}: aliases read {got} right after setting {expected}; another writer interfered"
        )


def _tag_decision(client: MlflowClient, name: str, version: str, decision: dict) -> None:
    client.set_model_version_tag(name, version, DECISION_TAG, decision["decision"])
    client.set_model_version_tag(name, version, REASONS_TAG, json.dumps(decision["reasons"]))
    client.set_model_version_tag(name, version, TIME_TAG, decision["time"])
    client.set_registered_model_tag(
        name, LAST_TAG, json.dumps({k: v for k, v in decision.items() if k != "gates"})
    )
    record_decision(client, name, version, decision)


def _candidate(
    client: MlflowClient, name: str, alias: str, version: str | int | None
) -> ModelVersion:
    if version is not None:
        try:
            return client.get_model_version(name, str(version))
        except MlflowException as exc:
            raise RegistryError(f"registered model {name!r} has no version {version}") from exc
    return version_by_alias(client, name, alias)


def promote(
    model_name: str,
    gates: dict,
    candidate_alias: str = CHALLENGER,
    candidate_version: str | int | None = None,
    champion_alias: str = CHAMPION,
    previous_alias: str = PREVIOUS_CHAMPION,
    missing_champion_metric: str = "fail",
    lock: dict | None = None,
    client: MlflowClient | None = None,
) -> dict:
    """Promote the candidate if every gate passes; returns the decision (also tagged).

    ``decision`` is ``promoted``, ``rejected`` (``champion`` untouched, ``reasons`` say which
    gates failed) or ``noop`` (the candidate already is champion).

    Raises:
        RegistryUnreachable, ModelNotFound, AliasNotFound: the registry, model or alias is missing.
        PromotionConflict: the lock could not be taken or was lost; no alias was left half-moved.
    """
    ensure_store()
    client = client or MlflowClient()
    get_registered_model(client, model_name)
    cand = _candidate(client, model_name, candidate_alias, candidate_version)
    version = str(cand.version)
    with RegistryLock(client, model_name, **(lock or {})) as held:
        cand = client.get_model_version(model_name, version)  # fresh tags inside the lock
        champion = alias_version(client, model_name, champion_alias)
        previous = alias_version(client, model_name, previous_alias)
        decision = {
            "model_name": model_name,
            "candidate_version": version,
            "champion_before": champion,
            "previous_before": previous,
            "champion_after": champion,
            "previous_after": previous,
            "time": _now(),
            "owner": held.owner,
            "registry_uri": mlflow.get_registry_uri(),
        }
        if champion == version:
            decision |= {
                "decision": "noop",
                "passed": True,
                "reasons": [f"v{version} already is @{champion_alias}"],
                "gates": [],
            }
            logger.info("%s v%s already is @%s: nothing to do", model_name, version, champion_alias)
            return decision
        results = gate_candidate(
            client,
            model_name,
            cand,
            champion,
            gates,
            f"{champion_alias} v{champion}",
            missing_champion_metric,
        )
        passed = all(r.passed for r in results)
        decision |= {
            "decision": "promoted" if passed else "rejected",
            "passed": passed,
            "reasons": [r.reason for r in results if not r.passed] or [r.reason for r in results],
            "gates": [r.to_dict() for r in results],
        }
        if passed:
            try:
                if champion is not None:
                    _set_alias(client, held, model_name, previous_alias, champion)
                _set_alias(client, held, model_name, champion_alias, version)
                _verify_aliases(
                    client,
                    model_name,
                    {champion_alias: version, previous_alias: champion or previous},
                )
            except Exception:
                _restore(client, model_name, {champion_alias: champion, previous_alias: previous})
                raise
            client.set_model_version_tag(model_name, version, REPLACED_TAG, champion or "none")
            decision |= {"champion_after": version, "previous_after": champion or previous}
        _tag_decision(client, model_name, version, decision)
    _log_decision(decision, champion_alias)
    return decision


def _restore(client: MlflowClient, name: str, aliases: dict[str, str | None]) -> None:
    """Best effort: put aliases back as they were before a failed move."""
    for alias, version in aliases.items():
        try:
            if version is None:
                client.delete_registered_model_alias(name, alias)
            else:
                client.set_registered_model_alias(name, alias, version)
        except MlflowException as exc:  # pragma: no cover - the store went away
            logger.error("could not restore %s@%s -> %s: %s", name, alias, version, exc)


def _log_decision(decision: dict, champion_alias: str) -> None:
    head = f"{decision['model_name']} v{decision['candidate_version']}: {decision['decision']}"
    if decision["decision"] == "rejected":
        logger.warning("%s; @%s stays v%s", head, champion_alias, decision["champion_before"])
        for gate in decision["gates"]:
            logger.warning("  %s %s", "ok  " if gate["passed"] else "FAIL", gate["reason"])
    else:
        logger.info("%s; @%s = v%s", head, champion_alias, decision["champion_after"])


def rollback(
    model_name: str,
    champion_alias: str = CHAMPION,
    previous_alias: str = PREVIOUS_CHAMPION,
    lock: dict | None = None,
    client: MlflowClient | None = None,
) -> dict:
    """Point ``champion`` at ``previous-champion``; ``previous-champion`` walks one step back.

    The version rolled back from is tagged ``promotion.rolled_back`` so a later ``promote``
    will not silently re-promote it.

    Raises:
        NothingToRollBack: ``previous-champion`` is not set.
    """
    ensure_store()
    client = client or MlflowClient()
    get_registered_model(client, model_name)
    with RegistryLock(client, model_name, **(lock or {})) as held:
        champion = alias_version(client, model_name, champion_alias)
        previous = alias_version(client, model_name, previous_alias)
        if previous is None:
            raise NothingToRollBack(
                f"{model_name} has no @{previous_alias}: nothing to roll back to (@{champion_alias} = v{champion})"
            )
        older = (client.get_model_version(model_name, previous).tags or {}).get(REPLACED_TAG)
        if older in (None, "none", previous, champion) or not _exists(client, model_name, older):
            older = None
        try:
            _set_alias(client, held, model_name, champion_alias, previous)
            _set_alias(client, held, model_name, previous_alias, older)
            _verify_aliases(client, model_name, {champion_alias: previous, previous_alias: older})
        except Exception:
            _restore(client, model_name, {champion_alias: champion, previous_alias: previous})
            raise
        decision = {
            "model_name": model_name,
            "decision": "rolled_back",
            "candidate_version": champion,
            "champion_before": champion,
            "previous_before": previous,
            "champion_after": previous,
            "previous_after": older,
            "time": _now(),
            "owner": held.owner,
            "registry_uri": mlflow.get_registry_uri(),
            "reasons": [f"@{champion_alias} v{champion} -> v{previous}"],
        }
        if champion is not None:
            client.set_model_version_tag(model_name, champion, ROLLED_BACK_TAG, decision["time"])
            _tag_decision(client, model_name, champion, decision)
        else:
            client.set_registered_model_tag(model_name, LAST_TAG, json.dumps(decision))
    logger.info(
        "%s: @%s rolled back v%s -> v%s (@%s now %s)",
        model_name,
        champion_alias,
        champion,
        previous,
        previous_alias,
        older,
    )
    return decision


def _exists(client: MlflowClient, name: str, version: str) -> bool:
    try:
        client.get_model_version(name, version)
        return True
    except MlflowException:
        return False


__all__ = ["gate_candidate", "promote", "rollback", "version_metrics"]
