"""Project pipelines: each can run alone; ``__default__`` chains them in order."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: The order of the default chain (extract -> sets -> train -> evaluate -> register).
DEFAULT_CHAIN = ("extract_tuples", "build_sets", "train_edit", "evaluate_edit", "register")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT_CHAIN if name in pipelines), Pipeline([]))
    return pipelines
