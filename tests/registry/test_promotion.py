"""Gated promotion, rollback and the registry lock against a sqlite registry."""

from __future__ import annotations

import json
import time

import pytest
from mlflow.tracking import MlflowClient

from relsafe.registry.aliases import ensure_store
from relsafe.registry.errors import (
    AliasNotFound,
    ModelNotFound,
    NothingToRollBack,
    PromotionConflict,
)
from relsafe.registry.lock import (
    EXPIRES_TAG,
    OWNER_TAG,
    RegistryLock,
    lock_name,
    sweep_stale_locks,
)
from relsafe.registry.promotion import promote, rollback

NAME = "relsafe-encoder"
GATES = {
    "absolute": {"unsafe_r5": {"max": 0.5}, "benign_r1": {"min": 0.8}},
    "no_regression": {"unsafe_r5": {"better": "lower", "tolerance": 0.02}},
}
FAST_LOCK = {"timeout_s": 1.0, "poll_s": 0.05}


def add_version(
    client: MlflowClient,
    tmp_path,
    unsafe_r5: float,
    benign_r1: float = 0.9,
    alias: str = "challenger",
    eval_set: str = "e" * 64,
    policy: str = "p" * 64,
) -> str:
    """A version with metric and binding tags only (promotion never loads the model)."""
    try:
        client.get_registered_model(NAME)
    except Exception:
        client.create_registered_model(NAME)
    src = tmp_path / f"model_{time.monotonic_ns()}"
    src.mkdir()
    mv = client.create_model_version(
        NAME,
        src.as_uri(),
        tags={
            "metric.unsafe_r5": str(unsafe_r5),
            "metric.benign_r1": str(benign_r1),
            **({"eval_set_sha256": eval_set} if eval_set else {}),
            **({"policy_sha256": policy} if policy else {}),
        },
    )
    client.set_registered_model_alias(NAME, alias, mv.version)
    return str(mv.version)


def aliases(client: MlflowClient) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def test_promote_reject_promote_rollback(sqlite_registry, tmp_path):
    client = MlflowClient()
    v1 = add_version(client, tmp_path, unsafe_r5=0.3)
    first = promote(NAME, GATES, lock=FAST_LOCK)
    assert first["decision"] == "promoted" and any(
        "no champion" in g["reason"] for g in first["gates"]
    )
    assert aliases(client) == {"challenger": v1, "champion": v1}
    assert promote(NAME, GATES, lock=FAST_LOCK)["decision"] == "noop"

    v2 = add_version(
        client, tmp_path, unsafe_r5=0.4, benign_r1=0.7
    )  # regresses and fails benign_r1
    rejected = promote(NAME, GATES, lock=FAST_LOCK)
    assert rejected["decision"] == "rejected" and rejected["champion_after"] == v1
    assert aliases(client)["champion"] == v1
    failed = {g["gate"] for g in rejected["gates"] if not g["passed"]}
    assert failed == {
        "absolute:benign_r1>=0.8",
        "no_regression:unsafe_r5(lower is better, tol 0.02)",
    }
    tags = client.get_model_version(NAME, v2).tags
    assert (
        tags["promotion.decision"] == "rejected" and len(json.loads(tags["promotion.reasons"])) == 2
    )
    assert (
        json.loads(client.get_registered_model(NAME).tags["promotion.last"])["decision"]
        == "rejected"
    )

    v3 = add_version(client, tmp_path, unsafe_r5=0.2)
    assert promote(NAME, GATES, lock=FAST_LOCK)["decision"] == "promoted"
    assert aliases(client) == {"challenger": v3, "champion": v3, "previous-champion": v1}
    assert client.get_model_version(NAME, v3).tags["promotion.replaced"] == v1

    back = rollback(NAME, lock=FAST_LOCK)
    assert back["champion_after"] == v1 and back["previous_after"] is None
    assert aliases(client) == {"challenger": v3, "champion": v1}
    again = promote(NAME, GATES, lock=FAST_LOCK)  # the rolled-back challenger is not re-promoted
    assert again["decision"] == "rejected" and any("rolled back" in r for r in again["reasons"])
    with pytest.raises(NothingToRollBack, match="no @previous-champion"):
        rollback(NAME, lock=FAST_LOCK)
    assert not client.search_registered_models(f"name='{lock_name(NAME)}'"), "lock not released"


def test_explicit_version_and_rollback_chain(sqlite_registry, tmp_path):
    client = MlflowClient()
    v1 = add_version(client, tmp_path, 0.3)
    v2 = add_version(client, tmp_path, 0.25)
    v3 = add_version(client, tmp_path, 0.2)
    for v in (v1, v2, v3):
        assert promote(NAME, GATES, candidate_version=v, lock=FAST_LOCK)["decision"] == "promoted"
    assert aliases(client)["previous-champion"] == v2
    rollback(NAME, lock=FAST_LOCK)
    assert (aliases(client)["champion"], aliases(client)["previous-champion"]) == (v2, v1)
    rollback(NAME, lock=FAST_LOCK)
    assert aliases(client)["champion"] == v1 and "previous-champion" not in aliases(client)


def test_unknown_model_or_alias(sqlite_registry, tmp_path):
    with pytest.raises(ModelNotFound):
        promote(NAME, GATES)
    MlflowClient().create_registered_model(NAME)
    with pytest.raises(AliasNotFound, match="challenger"):
        promote(NAME, GATES)


def test_held_lock_times_out_and_stale_lock_is_broken(sqlite_registry, tmp_path):
    client = MlflowClient()
    add_version(client, tmp_path, 0.3)
    other = RegistryLock(client, NAME, ttl_s=60, owner="someone-else").acquire()
    with pytest.raises(PromotionConflict, match="held by someone-else"):
        promote(NAME, GATES, lock=FAST_LOCK)
    assert "champion" not in aliases(client)
    client.set_registered_model_tag(
        lock_name(NAME), EXPIRES_TAG, str(time.time() - 1)
    )  # it crashed long ago
    assert promote(NAME, GATES, lock=FAST_LOCK)["decision"] == "promoted"
    with pytest.raises(PromotionConflict, match="lost"):
        other.check()


def test_crashed_locks_are_swept_not_left_as_clutter(sqlite_registry, tmp_path):
    """Issue 18 item 9: a lock model left by a crashed process (expired) is removed by the
    next registry call of any relsafe process, for any model; a live lock stays."""
    client = MlflowClient()
    crashed = RegistryLock(client, "relsafe-lm", ttl_s=60, owner="crashed").acquire()
    live = RegistryLock(client, NAME, ttl_s=60, owner="alive").acquire()
    client.set_registered_model_tag(lock_name("relsafe-lm"), EXPIRES_TAG, str(time.time() - 1))
    client.create_registered_model("notes.lock")  # not a relsafe lock (no owner tag): kept
    ensure_store()
    names = {m.name for m in client.search_registered_models()}
    assert lock_name("relsafe-lm") not in names
    assert {lock_name(NAME), "notes.lock"} <= names
    assert sweep_stale_locks(client) == []
    live.release()
    assert lock_name(NAME) not in {m.name for m in client.search_registered_models()}
    with pytest.raises(PromotionConflict, match="lost"):
        crashed.check()


def test_lock_fencing_stops_a_holder_that_lost_the_lock(sqlite_registry, tmp_path):
    client = MlflowClient()
    add_version(client, tmp_path, 0.3)
    lock = RegistryLock(client, NAME).acquire()
    client.set_registered_model_tag(lock_name(NAME), OWNER_TAG, "intruder")
    with pytest.raises(PromotionConflict, match="intruder"):
        lock.check()


@pytest.mark.parametrize(
    ("eval_set", "policy", "reason"),
    [
        ("f" * 64, "p" * 64, "different eval set"),
        ("e" * 64, "q" * 64, "different policy"),
        (None, "p" * 64, "challenger has no eval set hash"),
    ],
)
def test_no_regression_needs_the_same_eval_set_and_policy(
    sqlite_registry, tmp_path, eval_set, policy, reason
):
    """Metrics scored on another eval set or policy are not compared: the gate fails, saying so."""
    client = MlflowClient()
    add_version(client, tmp_path, unsafe_r5=0.3)
    assert promote(NAME, GATES, lock=FAST_LOCK)["decision"] == "promoted"
    add_version(client, tmp_path, unsafe_r5=0.1, eval_set=eval_set, policy=policy)
    decision = promote(NAME, GATES, lock=FAST_LOCK)
    assert decision["decision"] == "rejected"
    (gate,) = [g for g in decision["gates"] if g["gate"].startswith("no_regression")]
    assert not gate["passed"] and reason in gate["reason"] and "not comparable" in gate["reason"]
    assert all(g["passed"] for g in decision["gates"] if g["gate"].startswith("absolute"))
