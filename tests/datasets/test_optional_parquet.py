"""OptionalParquetDataset: empty table before the first save, atomic saves after."""

import pandas as pd

from relsafe.datasets.optional_parquet import OptionalParquetDataset


def test_missing_file_loads_empty_then_round_trips(tmp_path):
    ds = OptionalParquetDataset(str(tmp_path / "sub" / "cache.parquet"), columns=["key", "v"])
    empty = ds.load()
    assert list(empty.columns) == ["key", "v"] and empty.empty and not ds.exists()
    frame = pd.DataFrame({"key": ["a", "b"], "v": ["1", "2"]})
    ds.save(frame)
    assert ds.exists() and not list((tmp_path / "sub").glob(".*tmp"))
    pd.testing.assert_frame_equal(ds.load(), frame)
