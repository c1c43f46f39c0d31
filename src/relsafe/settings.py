"""Project settings (Kedro). kedro-mlflow registers its hooks through its plugin entry point."""

from relsafe.config_loader import RelsafeConfigLoader

# OmegaConfigLoader + a clear error for an unknown --env + MLFLOW_TRACKING_URI wins over mlflow.yml.
CONFIG_LOADER_CLASS = RelsafeConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local (or --env) files override base keys one by one instead of whole blocks.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft", "airflow": "soft"},
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**"],
        "airflow": ["airflow*", "airflow*/**"],
    },
}

from relsafe.hooks import (  # noqa: E402
    ConfigValidationHook,
    DaskSchedulerHook,
    PortableStoreHook,
    RegistryReachableHook,
)

# Params are validated and the registry checked before kedro-mlflow's hooks and any node run.
# pluggy calls hooks last-registered first: params are checked before the registry.
# PortableStoreHook is trylast: it runs after kedro-mlflow has created the experiment.
HOOKS = (DaskSchedulerHook(), RegistryReachableHook(), ConfigValidationHook(), PortableStoreHook())
