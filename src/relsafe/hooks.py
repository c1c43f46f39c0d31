"""Project hooks."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from relsafe.oro.dask_extract import configure_scheduler


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
