from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.build_sets.nodes import build_sets


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_sets,
                ["safety_policy", "caption_tuples", "params:build_sets"],
                ["forget_set", "retain_set", "eval_set", "set_stats"],
                name="build_sets",
            )
        ]
    )
