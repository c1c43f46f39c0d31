"""evaluate_edit: metrics and tables -> charts -> HTML report."""

from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.evaluate_edit.nodes import evaluate_edit, make_charts, make_report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate_edit,
                [
                    "edit_adapter",
                    "baseline_adapter",
                    "eval_set",
                    "retain_set",
                    "lm_forget_set",
                    "lm_retain_set",
                    "lm_eval_set",
                    "plain_text",
                    "compositionality_captions",
                    "safety_policy",
                    "lm_eval_answer_cache",
                    "params:model",
                    "params:evaluate_edit",
                ],
                [
                    "metrics",
                    "eval_rows",
                    "eval_comparison",
                    "eval_per_rule",
                    "eval_drift",
                    "eval_examples",
                    "lm_eval_answer_cache_updated",
                ],
                name="evaluate_edit",
            ),
            Node(
                make_charts,
                ["eval_per_rule", "eval_drift", "eval_examples", "params:evaluate_edit"],
                ["plot_per_rule", "plot_drift", "plot_examples"],
                name="make_charts",
            ),
            Node(
                make_report,
                [
                    "metrics",
                    "eval_comparison",
                    "eval_per_rule",
                    "eval_examples",
                    "params:model",
                    "params:evaluate_edit",
                ],
                "eval_report",
                name="make_report",
            ),
        ]
    )
