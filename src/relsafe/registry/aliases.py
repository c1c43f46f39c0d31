"""Registry look-ups with clear errors: reachability, models, aliases, loading by alias."""

from __future__ import annotations

import urllib.error
import urllib.request

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from relsafe.registry.errors import AliasNotFound, ModelNotFound, RegistryUnreachable

CHALLENGER, CHAMPION, PREVIOUS_CHAMPION = "challenger", "champion", "previous-champion"


def ensure_reachable(timeout_s: float = 5.0, uris: list[str] | None = None) -> None:
    """For an ``http(s)`` tracking/registry URI, GET ``/health`` once, without MLflow's retries.

    ``uris`` defaults to MLflow's current tracking and registry URIs.

    Raises:
        RegistryUnreachable: naming the URI, when the server does not answer.
    """
    if uris is None:
        uris = [mlflow.get_tracking_uri(), mlflow.get_registry_uri()]
    for uri in dict.fromkeys(uris):
        if not str(uri).startswith(("http://", "https://")):
            continue
        url = str(uri).rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - http(s) only
                if resp.status >= 400:
                    raise RegistryUnreachable(
                        f"MLflow registry at {uri} answered {resp.status} on /health"
                    )
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryUnreachable(
                f"MLflow registry at {uri} is unreachable ({exc}); start the server or fix "
                "MLFLOW_TRACKING_URI / conf/<env>/mlflow.yml"
            ) from exc


def ensure_store(timeout_s: float = 5.0) -> None:
    """:func:`ensure_reachable`, then keep a local sqlite store portable
    (:func:`relsafe.registry.portable.make_portable`: artifact locations relative to its folder)
    and remove expired promotion locks (:func:`relsafe.registry.lock.sweep_stale_locks`)."""
    from relsafe.registry.lock import sweep_stale_locks
    from relsafe.registry.portable import make_portable

    ensure_reachable(timeout_s)
    for uri in dict.fromkeys([mlflow.get_tracking_uri(), mlflow.get_registry_uri()]):
        make_portable(uri)
    sweep_stale_locks(MlflowClient())


def _not_found(exc: MlflowException) -> bool:
    return (
        getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"
        or "not found" in str(exc).lower()
    )


def get_registered_model(client: MlflowClient, name: str):
    """The registered model ``name``; :class:`ModelNotFound` lists the ones that exist."""
    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if not _not_found(exc):
            raise
        known = sorted(m.name for m in client.search_registered_models(max_results=50))
        raise ModelNotFound(
            f"no registered model {name!r} in {mlflow.get_registry_uri()} (known: {known or 'none'}); "
            "run `kedro run` (register) first"
        ) from exc


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion:
    """The version ``name@alias`` points at; a clear error for an unknown model or alias."""
    model = get_registered_model(client, name)
    aliases = dict(getattr(model, "aliases", {}) or {})
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if not _not_found(exc):
            raise
        raise AliasNotFound(
            f"registered model {name!r} has no alias {alias!r} (aliases: {aliases or 'none'})"
        ) from exc


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version number behind ``name@alias``, or None when the alias is unset."""
    try:
        return str(version_by_alias(client, name, alias).version)
    except AliasNotFound:
        return None


def load_registered(name: str, alias: str = CHAMPION):
    """``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` with the checks above first."""
    ensure_store()
    version_by_alias(MlflowClient(), name, alias)
    return mlflow.pyfunc.load_model(f"models:/{name}@{alias}")


def _name_keys() -> dict[str, str]:
    """``model.family`` -> key of the registered model name in ``parameters_register.yml``."""
    from relsafe.families import family_names, get_family

    return {name: get_family(name).registry_name_key for name in family_names()}


def __getattr__(name: str):
    if name == "NAME_KEYS":
        return _name_keys()
    raise AttributeError(name)


def registered_model_name(family: str, register_params: dict) -> str:
    """The registered model for ``family`` (``relsafe-encoder`` / ``relsafe-lm`` by default)."""
    name_keys = _name_keys()
    if family not in name_keys:
        raise ValueError(f"model.family {family!r}: expected one of {sorted(name_keys)}")
    key = name_keys[family]
    if key not in register_params:
        raise KeyError(f"parameters_register.yml: register.{key} is missing")
    return str(register_params[key])
