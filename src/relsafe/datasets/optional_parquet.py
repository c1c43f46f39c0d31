"""A Parquet dataset that loads as an empty table while its file does not exist yet.

For a table a pipeline both reads and rewrites (the LM completion cache): the first run has
nothing to read. The catalog names the file twice, once to read and once to write, because a
Kedro node cannot take and return the same dataset.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset


class OptionalParquetDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """``type: relsafe.datasets.optional_parquet.OptionalParquetDataset`` with ``filepath``
    and optional ``columns`` (of the empty table loaded when the file is missing)."""

    def __init__(
        self,
        filepath: str,
        columns: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._filepath = PurePosixPath(filepath)
        self._columns = list(columns or [])
        self.metadata = metadata

    def _load(self) -> pd.DataFrame:
        path = Path(self._filepath)
        if not path.is_file():
            return pd.DataFrame({c: pd.Series(dtype=str) for c in self._columns})
        return pd.read_parquet(path)

    def _save(self, data: pd.DataFrame) -> None:
        path = Path(self._filepath)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        data.to_parquet(tmp, index=False)
        tmp.replace(path)  # atomic: a killed run never leaves half a cache

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "columns": self._columns}

    load = _load
    save = _save
