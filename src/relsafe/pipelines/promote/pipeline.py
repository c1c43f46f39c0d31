"""promote: ``kedro run --pipeline promote`` (``make promote``)."""

from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.promote.nodes import enforce_decision, promote_challenger


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                promote_challenger,
                ["registered_model", "params:model", "params:register", "params:promote"],
                "promotion_decision",
                name="promote_challenger",
            ),
            Node(
                enforce_decision,
                ["promotion_decision", "params:promote"],
                None,
                name="enforce_promotion_decision",
            ),
        ]
    )
