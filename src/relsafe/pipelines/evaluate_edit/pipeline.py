from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.evaluate_edit.nodes import evaluate_edit


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate_edit,
                ["edit_adapter", "eval_set", "params:model", "params:evaluate_edit"],
                ["metrics", "eval_rows"],
                name="evaluate_edit",
            )
        ]
    )
