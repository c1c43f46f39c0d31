"""A cross-process, cross-host lock held in the MLflow registry itself.

MLflow has no compare-and-set on aliases, but creating a registered model is atomic: the
store's unique constraint on the name lets exactly one of several racing
``create_registered_model("<model>.lock")`` calls succeed (over REST the others get
``RESOURCE_ALREADY_EXISTS``). The winner holds the lock; its owner id and expiry are tags
on that lock model. Before each write the holder re-reads the lock (:meth:`check`), so a
holder whose lock expired and was broken by another process stops instead of writing.

A lock is a registered model only while it is held: :meth:`RegistryLock.release` deletes it,
and one left behind by a crashed process is deleted once it has expired, by the next
process that waits for it or by :func:`sweep_stale_locks` (run before every registration,
promotion, rollback and load), so expired ``<model>.lock`` entries do not pile up in the UI.

Limits: expiry uses wall-clock time (keep hosts' clocks in sync; ``ttl_s`` far above a
promotion's duration); breaking a stale lock is best-effort (a read, then a delete).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
import uuid

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from relsafe.registry.errors import PromotionConflict

logger = logging.getLogger(__name__)
OWNER_TAG, EXPIRES_TAG = "lock.owner", "lock.expires"


LOCK_SUFFIX = ".lock"


def lock_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def _expires(tags: dict[str, str]) -> float:
    try:
        return float(tags.get(EXPIRES_TAG, "0"))
    except ValueError:
        return 0.0


def sweep_stale_locks(client: MlflowClient | None = None) -> list[str]:
    """Delete every expired ``<model>.lock`` registered model (a crashed holder's); returns
    their names. A live lock is left alone; a lock re-taken meanwhile (new owner) too."""
    client = client or MlflowClient()
    try:
        found = client.search_registered_models(f"name LIKE '%{LOCK_SUFFIX}'", max_results=100)
    except MlflowException as exc:  # a store without a registry
        logger.debug("cannot list lock models: %s", exc)
        return []
    removed = []
    for model in found:
        tags = dict(model.tags or {})
        if OWNER_TAG not in tags or time.time() <= _expires(tags):
            continue  # not one of ours, or still held
        try:
            again = dict(client.get_registered_model(model.name).tags or {})
            if again.get(OWNER_TAG) != tags.get(OWNER_TAG):
                continue
            client.delete_registered_model(model.name)
        except MlflowException:  # released or broken by another process meanwhile
            continue
        logger.warning(
            "removed stale lock %s (held by %s, expired %.0fs ago)",
            model.name,
            tags.get(OWNER_TAG),
            time.time() - _expires(tags),
        )
        removed.append(model.name)
    return removed


class RegistryLock:
    """``with RegistryLock(client, "relsafe-encoder"): ...`` serialises promotions/rollbacks."""

    def __init__(
        self,
        client: MlflowClient,
        model_name: str,
        ttl_s: float = 300.0,
        timeout_s: float = 60.0,
        poll_s: float = 0.25,
        owner: str | None = None,
    ):
        self.client = client
        self.name = lock_name(model_name)
        self.ttl_s, self.timeout_s, self.poll_s = float(ttl_s), float(timeout_s), float(poll_s)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    def _read(self) -> dict[str, str] | None:
        try:
            return dict(self.client.get_registered_model(self.name).tags or {})
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _try_create(self) -> bool:
        tags = {OWNER_TAG: self.owner, EXPIRES_TAG: f"{time.time() + self.ttl_s:.3f}"}
        try:
            self.client.create_registered_model(
                self.name,
                tags=tags,
                description="relsafe promotion lock (transient; safe to delete if stale)",
            )
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            # RESOURCE_DOES_NOT_EXIST: the holder released (deleted) the lock model between
            # the server creating it and writing its tags: not ours, try again
            if code in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST") or (
                "already exists" in str(exc).lower()
            ):
                return False
            raise
        return (self._read() or {}).get(OWNER_TAG) == self.owner

    def _break_if_stale(self, tags: dict[str, str]) -> None:
        expires = _expires(tags)
        if time.time() <= expires:
            return
        again = self._read()
        if again is None or again.get(OWNER_TAG) != tags.get(OWNER_TAG):
            return  # released or re-taken meanwhile
        logger.warning(
            "breaking stale lock %s held by %s (expired %.0fs ago)",
            self.name,
            tags.get(OWNER_TAG),
            time.time() - expires,
        )
        with contextlib.suppress(MlflowException):
            self.client.delete_registered_model(self.name)

    def acquire(self) -> RegistryLock:
        """Wait up to ``timeout_s`` for the lock; :class:`PromotionConflict` names the holder."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self._try_create():
                self.held = True
                logger.info("acquired %s as %s", self.name, self.owner)
                return self
            tags = self._read()
            if tags is not None:
                self._break_if_stale(tags)
            if time.monotonic() >= deadline:
                holder = (tags or {}).get(OWNER_TAG, "unknown")
                raise PromotionConflict(
                    f"could not take {self.name!r} within {self.timeout_s:g}s: held by {holder} "
                    f"(expires at {(tags or {}).get(EXPIRES_TAG, '?')}); retry later, or delete the "
                    f"registered model {self.name!r} if that process is gone"
                )
            time.sleep(self.poll_s * (0.5 + random.random()))

    def check(self) -> None:
        """Fencing: raise :class:`PromotionConflict` unless we still hold an unexpired lock."""
        tags = self._read()
        if not self.held or tags is None or tags.get(OWNER_TAG) != self.owner:
            raise PromotionConflict(
                f"lost {self.name!r}: now held by {(tags or {}).get(OWNER_TAG, 'nobody')}; no change made after this point"
            )
        if time.time() > float(tags.get(EXPIRES_TAG, "0")):
            raise PromotionConflict(
                f"our lock {self.name!r} expired (ttl {self.ttl_s:g}s); aborting before the next write"
            )

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        tags = self._read()
        if tags is not None and tags.get(OWNER_TAG) == self.owner:
            self.client.delete_registered_model(self.name)
            logger.info("released %s", self.name)

    def __enter__(self) -> RegistryLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
