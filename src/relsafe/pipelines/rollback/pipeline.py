"""rollback: ``kedro run --pipeline rollback`` (``make rollback``)."""

from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.rollback.nodes import rollback_champion


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                rollback_champion,
                ["params:model", "params:register", "params:promote"],
                "rollback_decision",
                name="rollback_champion",
            )
        ]
    )
