from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.train_edit.nodes import train_edit


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_edit,
                ["forget_set", "retain_set", "safety_policy", "params:model", "params:train_edit"],
                ["edit_adapter", "train_history"],
                name="train_edit",
            )
        ]
    )
