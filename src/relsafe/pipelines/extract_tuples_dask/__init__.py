"""The extract_tuples_dask pipeline: O-R-O extraction scaled out on Dask."""

from relsafe.pipelines.extract_tuples_dask.pipeline import create_pipeline

__all__ = ["create_pipeline"]
