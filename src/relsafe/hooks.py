"""Project hooks."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from relsafe.oro.dask_extract import configure_scheduler


class ConfigValidationHook:
    """Validate every params block against :mod:`relsafe.config_schema` before any node runs
    (and before kedro-mlflow opens a run): a typo or wrong type stops the run at once."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        from relsafe.config_schema import ConfigError, validate_params

        source = f"conf/{context.env or 'local'} + --params"
        validate_params(context.params, source=source)
        try:
            env_family = (context.config_loader["globals"] or {}).get("family")
        except Exception:  # no globals.yml: nothing to compare
            env_family = None
        family = (context.params.get("model") or {}).get("family", "encoder")
        if env_family and family != env_family:
            raise ConfigError(
                f"{source}: model.family is {family!r} but this conf env's globals.yml says "
                f"family: {env_family!r}, so its outputs would land in the {env_family} folders. "
                "Switch families with --env (kedro run --env lm | --env vlm), not --params."
            )


class RegistryReachableHook:
    """Fail within seconds, naming the URI, when an http(s) tracking/registry server is down,
    instead of MLflow's minutes of retries (kedro-mlflow contacts it on start-up)."""

    timeout_s = 5.0

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        from relsafe.registry.aliases import ensure_reachable

        try:
            server = (context.config_loader["mlflow"] or {}).get("server") or {}
        except Exception:  # no mlflow.yml: kedro-mlflow's defaults (a local store)
            return
        uris = [server.get("mlflow_tracking_uri"), server.get("mlflow_registry_uri")]
        ensure_reachable(self.timeout_s, uris=[u for u in uris if u])


class PortableStoreHook:
    """Keep a local sqlite MLflow store portable: after kedro-mlflow has set the tracking URI
    and created the experiment, and before it opens the run, rewrite artifact locations
    relative to the project root (:mod:`relsafe.registry.portable`), so new runs and models
    are recorded relative too and a moved or cloned project uses its own ``mlruns/``."""

    @hook_impl(trylast=True)
    def after_context_created(self, context) -> None:
        from relsafe.registry.portable import make_portable

        make_portable()


class DaskSchedulerHook:
    """Point Dask at the scheduler named in params (threads by default, or a cluster).

    Kedro saves a lazy Dask result after the node returns, so the scheduler must be set for
    the whole process, not inside the node.
    """

    def __init__(self) -> None:
        self.client = None

    @hook_impl
    def after_context_created(self, context) -> None:
        dask_params = context.params.get("extract_tuples", {}).get("dask", {})
        if dask_params.get("enabled"):
            self.client = configure_scheduler(dask_params.get("scheduler"))

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
