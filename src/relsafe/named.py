"""Name -> implementation registries: how losses, judges and attacks are chosen from config.

Adding a method is one decorated function plus one YAML block naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """A dict of named implementations whose lookups fail with the config key to fix.

    Args:
        kind: what is registered ("loss", "judge", ...), for messages.
        config_key: where in the params the name comes from, for messages.
    """

    def __init__(self, kind: str, config_key: str = ""):
        super().__init__()
        self.kind = kind
        self.config_key = config_key

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")``."""

        def deco(impl: T) -> T:
            self[name] = impl
            return impl

        return deco

    def lookup(self, name: str) -> T:
        """The implementation registered as ``name``.

        Raises:
            KeyError: naming the config key and every registered name.
        """
        if name not in self:
            where = f" ({self.config_key})" if self.config_key else ""
            raise KeyError(f"unknown {self.kind} {name!r}{where}; registered: {sorted(self)}")
        return self[name]
