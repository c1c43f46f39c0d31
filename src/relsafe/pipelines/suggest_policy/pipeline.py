"""suggest_policy: corpus tuples + policy -> ranked lexicon candidates for review."""

from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.suggest_policy.nodes import suggest_policy


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                suggest_policy,
                ["caption_tuples", "safety_policy", "params:suggest_policy"],
                ["policy_suggestions", "policy_suggestions_report"],
                name="suggest_policy",
            )
        ]
    )
