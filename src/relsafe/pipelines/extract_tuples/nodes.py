"""Nodes: caption corpora -> O-R-O tuple table."""

from __future__ import annotations

import pandas as pd

from relsafe.oro import TupleExtractor
from relsafe.oro.corpus import extract_table
from relsafe.oro.dask_extract import extract_dask, status_counts


def combine_corpora(factual: pd.DataFrame, safety: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Stack the caption sources with a ``source`` and a stable ``caption_id`` column."""
    col = params["text_column"]
    parts = []
    for name, df in (("factual", factual), ("safety", safety)):
        if col not in df.columns:
            raise KeyError(
                f"{name} captions: column {col!r} not found; columns are {list(df.columns)}"
            )
        parts.append(pd.DataFrame({"caption": df[col], "source": name}))
    out = pd.concat(parts, ignore_index=True)
    limit = params.get("limit")
    if limit:
        out = pd.concat(
            [out[out.source == "factual"].head(int(limit)), out[out.source != "factual"]],
            ignore_index=True,
        )
    out.insert(0, "caption_id", [f"{s}-{i}" for i, s in enumerate(out["source"])])
    return out


def extract_tuples(captions: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
    extractor = TupleExtractor(
        model=params.get("spacy_model"),
        batch_size=int(params["batch_size"]),
        n_process=int(params["n_process"]),
    )
    table = extract_table(
        captions,
        extractor,
        text_column="caption",
        max_chars=int(params["max_chars"]),
        source="captions",
    )
    report = {
        "n_captions": int(len(table)),
        "n_with_tuples": int((table["n_tuples"] > 0).sum()),
        "n_tuples": int(table["n_tuples"].sum()),
        "status_counts": {str(k): int(v) for k, v in table["status"].value_counts().items()},
    }
    return table, report


def partition_captions(captions: pd.DataFrame, params: dict):
    """The caption table as a partitioned Dask frame (the input of the Dask path)."""
    import dask.dataframe as dd

    return dd.from_pandas(captions, npartitions=int(params["dask"]["npartitions"]))


def extract_tuples_dask(captions, params: dict):
    """Partitioned captions -> lazy Dask table of tuples (computed when the catalog saves it)."""
    dask_params = params.get("dask", {})
    return extract_dask(
        captions,
        text_column="caption",
        model=params.get("spacy_model"),
        batch_size=int(dask_params.get("batch_size", 256)),
        max_chars=int(params["max_chars"]),
        source="captions_dask",
    )


def report_dask_extraction(table) -> dict:
    """Row and status counts of the saved Dask result (nothing is dropped)."""
    counts = status_counts(table)
    return {"n_captions": int(sum(counts.values())), "status_counts": counts}
