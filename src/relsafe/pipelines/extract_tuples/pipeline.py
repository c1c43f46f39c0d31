from kedro.pipeline import Node, Pipeline

from relsafe.pipelines.extract_tuples.nodes import (
    combine_corpora,
    extract_tuples,
    extract_tuples_dask,
    partition_captions,
    report_dask_extraction,
)


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


def create_dask_pipeline() -> Pipeline:
    """Scale-out path: partitioned Parquet in, ``map_partitions`` extraction, partitioned Parquet out.

    For a corpus that is already a partitioned Parquet folder, point ``captions_dask`` at it
    and run ``kedro run --pipeline extract_tuples_dask --from-nodes extract_tuples_dask``.
    """
    return Pipeline(
        [
            Node(
                combine_corpora,
                ["factual_captions", "safety_captions", "params:extract_tuples"],
                "captions_for_dask",
                name="combine_corpora_dask",
            ),
            Node(
                partition_captions,
                ["captions_for_dask", "params:extract_tuples"],
                "captions_dask",
                name="partition_captions",
            ),
            Node(
                extract_tuples_dask,
                ["captions_dask", "params:extract_tuples"],
                "caption_tuples_dask",
                name="extract_tuples_dask",
            ),
            Node(
                report_dask_extraction,
                "caption_tuples_dask",
                "extraction_report_dask",
                name="report_dask_extraction",
            ),
        ]
    )
