"""Project pipelines: each can run alone; ``__default__`` chains them in order.

``__full__`` is the scheduled chain: the default chain followed by ``promote``.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: The order of the default chain (extract -> sets -> train -> evaluate -> register).
DEFAULT_CHAIN = ("extract_tuples", "build_sets", "train_edit", "evaluate_edit", "register")
#: What a scheduled run does: the default chain, then promotion through the gates.
FULL_CHAIN = (*DEFAULT_CHAIN, "promote")


def _chain(pipelines: dict[str, Pipeline], names: tuple[str, ...]) -> Pipeline:
    return sum((pipelines[name] for name in names if name in pipelines), Pipeline([]))


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = _chain(pipelines, DEFAULT_CHAIN)
    pipelines["__full__"] = _chain(pipelines, FULL_CHAIN)
    return pipelines
