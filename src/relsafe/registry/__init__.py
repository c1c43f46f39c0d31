"""MLflow registry: pyfunc wrappers, registration, aliases, promotion gates, rollback.

Imports are lazy so that promotion/rollback (MLflow only) never pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "register_model": "relsafe.registry.register",
    "register_encoder": "relsafe.registry.register",
    "register_lm": "relsafe.registry.register",
    "promote": "relsafe.registry.promotion",
    "rollback": "relsafe.registry.promotion",
    "evaluate_gates": "relsafe.registry.gates",
    "load_registered": "relsafe.registry.aliases",
    "version_tags": "relsafe.registry.provenance",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'relsafe.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
