from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.extract_tuples.nodes import combine_corpora, extract_tuples


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                combine_corpora,
                ["factual_captions", "safety_captions", "params:extract_tuples"],
                "captions",
                name="combine_corpora",
            ),
            Node(
                extract_tuples,
                ["captions", "params:extract_tuples"],
                ["caption_tuples", "extraction_report"],
                name="extract_tuples",
            ),
        ]
    )
