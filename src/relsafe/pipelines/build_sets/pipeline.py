"""build_sets: policy + caption tuples -> textual and LM training / eval sets."""

from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.build_sets.nodes import (
    build_lm_eval_set,
    build_lm_prompts,
    build_sets,
    complete_lm_sets,
    report_sets,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_sets,
                ["safety_policy", "caption_tuples", "scene_pairs", "params:build_sets"],
                ["forget_set", "retain_set", "eval_set", "set_build_notes"],
                name="build_sets",
            ),
            Node(
                build_lm_prompts,
                [
                    "safety_policy",
                    "forget_set",
                    "retain_set",
                    "eval_set",
                    "advbench_behaviors",
                    "benign_instructions",
                    "benign_tasks",
                    "params:build_sets",
                    "params:model",
                ],
                ["lm_forget_prompts", "lm_retain_prompts"],
                name="build_lm_prompts",
            ),
            Node(
                build_lm_eval_set,
                [
                    "safety_policy",
                    "harmful_styles",
                    "benign_alarming",
                    "lm_forget_prompts",
                    "lm_retain_prompts",
                    "params:build_sets",
                ],
                "lm_eval_set",
                name="build_lm_eval_set",
            ),
            Node(
                complete_lm_sets,
                [
                    "lm_forget_prompts",
                    "lm_retain_prompts",
                    "lm_completion_cache",
                    "params:model",
                    "params:build_sets",
                ],
                ["lm_forget_set", "lm_retain_set", "lm_completion_cache_updated"],
                name="complete_lm_sets",
            ),
            Node(
                report_sets,
                [
                    "forget_set",
                    "retain_set",
                    "eval_set",
                    "lm_forget_set",
                    "lm_retain_set",
                    "set_build_notes",
                ],
                ["set_stats", "set_balance"],
                name="report_sets",
            ),
        ]
    )
