"""train_edit: sets -> the relational LoRA edit and the concept-erasure baseline."""

from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.train_edit.nodes import train_baseline, train_edit

INPUTS = [
    "forget_set",
    "retain_set",
    "lm_forget_set",
    "lm_retain_set",
    "safety_policy",
    "params:model",
    "params:train_edit",
]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(train_edit, INPUTS, ["edit_adapter", "train_history"], name="train_edit"),
            Node(
                train_baseline,
                INPUTS,
                ["baseline_adapter", "baseline_history"],
                name="train_baseline",
            ),
        ]
    )
