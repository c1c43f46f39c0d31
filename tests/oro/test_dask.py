"""Dask scale-out gives the single-process result, locally and on a LocalCluster."""

from __future__ import annotations

import dask.dataframe as dd
import pandas as pd
import pytest

from relsafe.oro.corpus import CaptionColumnError, extract_table
from relsafe.oro.dask_extract import (
    configure_scheduler,
    extract_dask,
    status_counts,
    use_scheduler,
)

CAPTIONS = [
    "a woman sitting on a bench",
    "a man with an umbrella",
    "",
    None,
    "wine being drunk by a girl",
    "there is a car on the track",
    "a man not wearing a hat",
    "<b>a dog</b> on a sofa",
    "trees and bushes growing on green lawn",
    "un chien sur le canapé avec une balle",
] * 4


@pytest.fixture(scope="module")
def frame():
    return pd.DataFrame({"region_id": range(len(CAPTIONS)), "caption": CAPTIONS})


@pytest.fixture(scope="module")
def expected(frame, extractor):
    return extract_table(frame, extractor, progress=False)


def _same(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    result = result.sort_values("region_id").reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert list(result.columns) == list(expected.columns)
    for column in ("region_id", "tuples", "n_tuples", "status"):
        assert list(result[column]) == list(expected[column]), column


def test_threads_default(frame, expected):
    ddf = dd.from_pandas(frame, npartitions=3)
    lazy = extract_dask(ddf, "caption")
    assert list(lazy.columns) == list(expected.columns)
    _same(extract_dask(ddf, "caption", compute=True), expected)
    assert status_counts(lazy)["ok"] == 24


def test_parquet_roundtrip(tmp_path, frame, expected):
    dd.from_pandas(frame, npartitions=4).to_parquet(tmp_path / "captions")
    ddf = dd.read_parquet(tmp_path / "captions")
    extract_dask(ddf, "caption").to_parquet(tmp_path / "tuples")
    _same(dd.read_parquet(tmp_path / "tuples").compute(), expected)


def test_local_cluster_matches_single_process(frame, expected):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        ddf = dd.from_pandas(frame, npartitions=4)
        result = extract_dask(ddf, "caption", scheduler=cluster.scheduler_address, compute=True)
    _same(result, expected)


def test_missing_column_and_bad_scheduler(frame):
    ddf = dd.from_pandas(frame.rename(columns={"caption": "text"}), npartitions=1)
    with pytest.raises(CaptionColumnError, match="'caption'"):
        extract_dask(ddf, "caption", source="captions.parquet")
    with pytest.raises(ValueError, match="unknown Dask scheduler"), use_scheduler("gpu-cluster"):
        pass
    with pytest.raises(ValueError, match="unknown Dask scheduler"):
        configure_scheduler("gpu-cluster")


def test_configure_scheduler_sets_default():
    import dask

    try:
        assert configure_scheduler("sync") is None
        assert dask.config.get("scheduler") == "sync"
    finally:
        configure_scheduler("threads")
