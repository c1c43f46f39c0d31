"""MLflow registry: pyfunc wrappers, registration, aliases, promotion gates."""

from relsafe.registry.register import register_encoder

__all__ = ["register_encoder"]
