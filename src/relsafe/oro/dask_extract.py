"""Scale extraction out with Dask: one partition at a time, one model per worker.

``extract_dask`` maps :func:`extract_partition` over a Dask DataFrame of captions (for
example a partitioned Parquet dataset). Each worker thread loads the spaCy model once and
keeps it for every partition it processes. The scheduler is picked by name:

- ``None`` or ``"threads"``: local threads (the default), ``"sync"`` for debugging,
  ``"processes"`` for local processes;
- ``"tcp://host:8786"`` (any ``scheme://`` address): a running ``distributed`` cluster.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd

from relsafe.oro.cleaning import DEFAULT_MAX_CHARS
from relsafe.oro.corpus import OUTPUT_COLUMNS, check_column, extract_table, log_status_counts
from relsafe.oro.extractor import TupleExtractor

logger = logging.getLogger(__name__)

_LOCAL = threading.local()
_LOCAL_SCHEDULERS = {"threads", "threading", "sync", "synchronous", "single-threaded", "processes"}
_STRING_DTYPE = pd.Series(["x"]).dtype  # what pandas infers for a column of str


def worker_extractor(model: str | None = None, batch_size: int = 256) -> TupleExtractor:
    """The calling thread's extractor, built on first use and then reused."""
    cache: dict[tuple, TupleExtractor] = getattr(_LOCAL, "extractors", None) or {}
    _LOCAL.extractors = cache
    key = (model, batch_size)
    if key not in cache:
        cache[key] = TupleExtractor(model=model, batch_size=batch_size, n_process=1)
    return cache[key]


def extract_partition(
    partition: pd.DataFrame,
    text_column: str = "caption",
    model: str | None = None,
    batch_size: int = 256,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> pd.DataFrame:
    """:func:`relsafe.oro.corpus.extract_table` on one partition, with fixed dtypes."""
    if partition.empty:  # the meta: the same columns, in the same order, as extract_table
        out = partition.copy()
        out[f"{text_column}_raw"] = partition[text_column]
        out["tuples"] = pd.Series([], index=partition.index, dtype=_STRING_DTYPE)
        out["n_tuples"] = pd.Series([], index=partition.index, dtype="int64")
        out["status"] = pd.Series([], index=partition.index, dtype=_STRING_DTYPE)
        return out
    out = extract_table(
        partition,
        worker_extractor(model, batch_size),
        text_column=text_column,
        max_chars=max_chars,
        source="partition",
        progress=False,
        log=False,
    )
    out["tuples"] = out["tuples"].astype(_STRING_DTYPE)
    out["n_tuples"] = out["n_tuples"].astype("int64")
    out["status"] = out["status"].astype(_STRING_DTYPE)
    return out


def extract_dask(
    ddf: Any,
    text_column: str = "caption",
    model: str | None = None,
    scheduler: str | None = None,
    batch_size: int = 256,
    max_chars: int = DEFAULT_MAX_CHARS,
    compute: bool = False,
    source: str = "captions",
) -> Any:
    """Extract O-R-O tuples from a Dask DataFrame of captions.

    Args:
        ddf: ``dask.dataframe.DataFrame`` with a caption column.
        text_column: name of the caption column.
        model: spaCy pipeline name (``None``: the packaged default).
        scheduler: ``None``/``"threads"``, ``"sync"``, ``"processes"`` or a
            ``distributed`` address such as ``"tcp://10.0.0.5:8786"``; used when
            ``compute`` is true (otherwise see :func:`use_scheduler`).
        batch_size: texts per ``nlp.pipe`` batch inside a partition.
        max_chars: captions are truncated to this many characters.
        compute: return a computed pandas DataFrame instead of a lazy Dask one.
        source: name for messages and logs.

    Returns:
        The input columns plus ``tuples``, ``n_tuples``, ``status`` (as
        :func:`relsafe.oro.corpus.extract_table`): lazy unless ``compute``.

    Raises:
        CaptionColumnError: ``text_column`` is missing.
    """
    check_column(ddf.columns, text_column, source)
    kwargs = {"text_column": text_column, "model": model, "batch_size": batch_size}
    meta = extract_partition(ddf._meta, **kwargs, max_chars=max_chars)
    result = ddf.map_partitions(extract_partition, **kwargs, max_chars=max_chars, meta=meta)
    if not compute:
        return result
    with use_scheduler(scheduler) as options:
        table = result.compute(**options)
    log_status_counts(table, source)
    return table


@contextlib.contextmanager
def use_scheduler(scheduler: str | None = None) -> Iterator[dict[str, Any]]:
    """Make ``scheduler`` Dask's default inside the block; yield ``compute`` options.

    A ``scheme://`` address connects a ``distributed.Client`` for the block and closes it
    after; a local name sets ``dask.config`` for the block.

    Raises:
        ValueError: an unknown scheduler name.
    """
    import dask

    name = (scheduler or "threads").strip()
    if "://" in name:
        from distributed import Client

        client = Client(name)
        try:
            yield {}
        finally:
            client.close()
        return
    if name not in _LOCAL_SCHEDULERS:
        raise ValueError(
            f"unknown Dask scheduler {scheduler!r}: use threads, sync, processes or an address"
        )
    with dask.config.set(scheduler=name):
        yield {"scheduler": name}


def configure_scheduler(scheduler: str | None = None) -> Any:
    """Make ``scheduler`` Dask's default for this process (e.g. from a Kedro hook).

    Unlike :func:`use_scheduler` this lasts until changed, so a lazy result saved later
    (a Kedro ``dask.ParquetDataset``) runs there too.

    Returns:
        The ``distributed.Client`` for an address (keep it; ``close()`` when done), else None.

    Raises:
        ValueError: an unknown scheduler name.
    """
    import dask

    name = (scheduler or "threads").strip()
    if "://" in name:
        from distributed import Client

        return Client(name, set_as_default=True)
    if name not in _LOCAL_SCHEDULERS:
        raise ValueError(
            f"unknown Dask scheduler {scheduler!r}: use threads, sync, processes or an address"
        )
    dask.config.set(scheduler=name)
    return None


def status_counts(table: Any) -> dict[str, int]:
    """Status counts of an extracted (Dask or pandas) table, logged."""
    counts = table["status"].value_counts()
    if hasattr(counts, "compute"):
        counts = counts.compute()
    result = {str(k): int(v) for k, v in counts.items()}
    logger.info("status counts %s", result)
    return result


__all__ = [
    "OUTPUT_COLUMNS",
    "configure_scheduler",
    "extract_dask",
    "extract_partition",
    "status_counts",
    "use_scheduler",
    "worker_extractor",
]
