"""A cross-process, cross-host lock held in the MLflow registry itself.

MLflow has no compare-and-set on aliases, but creating a registered model is atomic: the
store's unique constraint on the name lets exactly one of several racing
``create_registered_model("<model>.lock")`` calls succeed (over REST the others get
``RESOURCE_ALREADY_EXISTS``). The winner holds the lock; its owner id and expiry are tags
on that lock model. Before each write the holder re-reads the lock (:meth:`check`), so a
holder whose lock expired and was broken by another process stops instead of writing.

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


def lock_name(model_name: str) -> str:
    return f"{model_name}.lock"


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
        try:
            expires = float(tags.get(EXPIRES_TAG, "0"))
        except ValueError:
            expires = 0.0
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
