"""register: adapter + metrics -> MLflow model version (alias ``challenger``)."""

from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.register.nodes import register_adapter


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                register_adapter,
                ["edit_adapter", "metrics", "params:model", "params:register"],
                "registered_model",
                name="register_adapter",
            )
        ]
    )
