"""Run the extractor over a caption table, keeping every row."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter

import pandas as pd
from tqdm.auto import tqdm

from relsafe.oro.extractor import TupleExtractor

logger = logging.getLogger(__name__)

#: Captions longer than this are truncated before parsing (and flagged).
DEFAULT_MAX_CHARS = 1000


def caption_problem(value: object, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """Why a caption cannot be parsed as-is, or ``None`` when it is fine."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if not isinstance(value, str):
        return f"not a string ({type(value).__name__})"
    if not value.strip():
        return "empty"
    return None


def extract_table(
    captions: pd.DataFrame,
    extractor: TupleExtractor,
    text_column: str = "caption",
    max_chars: int = DEFAULT_MAX_CHARS,
    source: str = "captions",
    progress: bool = True,
) -> pd.DataFrame:
    """Add ``tuples`` (JSON list of ORO dicts), ``n_tuples`` and ``status`` columns.

    Rows that cannot be parsed keep an empty tuple list and a ``status`` saying why;
    no row is dropped.

    Raises:
        KeyError: ``text_column`` is missing; the message names ``source`` and the columns.
    """
    if text_column not in captions.columns:
        raise KeyError(
            f"{source}: caption column {text_column!r} not found; columns are {list(captions.columns)}"
        )
    problems = [caption_problem(v, max_chars) for v in captions[text_column]]
    texts = []
    for value, problem in zip(captions[text_column], problems):
        texts.append("" if problem else value[:max_chars])
    status = [
        p or ("truncated" if isinstance(v, str) and len(v) > max_chars else "ok")
        for v, p in zip(captions[text_column], problems)
    ]
    results = []
    iterator = extractor.iter_extract(texts)
    for tuples in tqdm(iterator, total=len(texts), desc="extract O-R-O", disable=not progress):
        results.append(json.dumps([t.as_dict() for t in tuples]))
    out = captions.copy()
    out["tuples"] = results
    out["n_tuples"] = [len(json.loads(r)) for r in results]
    out["status"] = status
    counts = Counter(status)
    logger.info(
        "%s: %d rows, %d with tuples, status counts %s",
        source,
        len(out),
        int((out["n_tuples"] > 0).sum()),
        dict(counts),
    )
    return out
