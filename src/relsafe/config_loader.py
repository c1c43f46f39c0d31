"""The project's config loader: unknown ``--env`` names fail fast, and the
``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` environment variables win over
``conf/*/mlflow.yml`` (the MLflow convention), with the conflict logged."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

logger = logging.getLogger(__name__)
_warned: set[tuple[str, str, str]] = set()


class UnknownEnvironment(ValueError):
    """``kedro run --env <name>`` where ``conf/<name>`` does not exist."""


def env_overrides(conf_mlflow: dict[str, Any]) -> dict[str, Any]:
    """``conf_mlflow`` with ``server.mlflow_tracking_uri`` / ``mlflow_registry_uri`` taken from
    the environment when set there; a conflict with the conf value is logged once."""
    server = dict(conf_mlflow.get("server") or {})
    tracking_env = os.environ.get("MLFLOW_TRACKING_URI")
    registry_env = os.environ.get("MLFLOW_REGISTRY_URI") or tracking_env
    conf_tracking = server.get("mlflow_tracking_uri")
    conf_registry = server.get("mlflow_registry_uri")
    for key, env_name, env_value, conf_value in (
        ("mlflow_tracking_uri", "MLFLOW_TRACKING_URI", tracking_env, conf_tracking),
        (
            "mlflow_registry_uri",
            "MLFLOW_REGISTRY_URI"
            if os.environ.get("MLFLOW_REGISTRY_URI")
            else "MLFLOW_TRACKING_URI",
            registry_env,
            conf_registry,
        ),
    ):
        if not env_value:
            continue
        if (
            conf_value
            and str(conf_value) != env_value
            and (key, env_value, str(conf_value)) not in _warned
        ):
            _warned.add((key, env_value, str(conf_value)))
            logger.warning(
                "%s=%s in the environment overrides mlflow.yml server.%s=%s",
                env_name,
                env_value,
                key,
                conf_value,
            )
        server[key] = env_value
    return {**conf_mlflow, "server": server} if server else dict(conf_mlflow)


class RelsafeConfigLoader(OmegaConfigLoader):
    """:class:`OmegaConfigLoader` plus the two rules in the module docstring."""

    def __init__(self, conf_source: str, env: str | None = None, **kwargs: Any) -> None:
        default_env = kwargs.get("default_run_env")
        root = Path(conf_source) if conf_source else None
        if env and env != default_env and root and root.is_dir() and not (root / env).is_dir():
            known = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "base")
            raise UnknownEnvironment(
                f"unknown environment {env!r}: there is no {root / env} (environments: {known})"
            )
        super().__init__(conf_source, env=env, **kwargs)

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if key == "mlflow" and isinstance(value, dict):
            return env_overrides(value)
        return value
