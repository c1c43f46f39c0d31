"""Registry errors: each names the model, alias, version, URI or file that is the problem."""

from __future__ import annotations


class RegistryError(RuntimeError):
    """Base class for everything the registry layer raises on purpose."""


class RegistryUnreachable(RegistryError):
    """The tracking/registry server cannot be reached."""


class ModelNotFound(RegistryError):
    """No registered model with that name."""


class AliasNotFound(RegistryError):
    """The registered model exists but the alias points nowhere."""


class CorruptArtifact(RegistryError):
    """An artifact is missing, unreadable, or its bytes differ from what was registered."""


class RegistrationFailed(RegistryError):
    """Registration was rolled back: no version was left behind without its artifacts/aliases."""


class PromotionConflict(RegistryError):
    """Another promotion/rollback holds the model's lock (or took it from us)."""


class NothingToRollBack(RegistryError):
    """There is no ``previous-champion`` to restore."""


class PromotionRejected(RegistryError):
    """The challenger failed at least one gate; ``champion`` was left untouched."""
