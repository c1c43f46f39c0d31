"""Project settings (Kedro). kedro-mlflow registers its hooks through its plugin entry point."""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
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

from relsafe.hooks import DaskSchedulerHook  # noqa: E402

HOOKS = (DaskSchedulerHook(),)
