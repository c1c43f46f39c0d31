from kedro.pipeline import Pipeline

from relsafe.pipelines.extract_tuples.pipeline import create_dask_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_dask_pipeline()
