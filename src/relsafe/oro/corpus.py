"""Run the extractor over a caption table, keeping every row."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from relsafe.oro.cleaning import DEFAULT_MAX_CHARS, CleanCaption, caption_problem, clean_caption
from relsafe.oro.extractor import TupleExtractor

__all__ = [
    "DEFAULT_MAX_CHARS",
    "OUTPUT_COLUMNS",
    "CaptionColumnError",
    "CaptionSourceError",
    "caption_problem",
    "extract_table",
    "read_captions",
]

logger = logging.getLogger(__name__)

#: Columns :func:`extract_table` adds.
OUTPUT_COLUMNS: tuple[str, ...] = ("tuples", "n_tuples", "status")


class CaptionColumnError(KeyError):
    """The caption column is missing; the message names the source and the column."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CaptionSourceError(OSError):
    """A caption file cannot be read; the message names the file."""


def check_column(columns: object, text_column: str, source: str) -> None:
    """Raise :class:`CaptionColumnError` unless ``text_column`` is in ``columns``."""
    names = list(columns)  # type: ignore[call-overload]
    if text_column not in names:
        raise CaptionColumnError(
            f"{source}: caption column {text_column!r} not found; columns are {names}"
        )


def read_captions(path: str | Path, text_column: str = "caption") -> pd.DataFrame:
    """Read a CSV, JSON Lines or Parquet caption file and check its caption column.

    Raises:
        CaptionSourceError: the file is missing or cannot be parsed.
        CaptionColumnError: the file has no ``text_column``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
        elif suffix in {".jsonl", ".json"}:
            frame = pd.read_json(path, lines=suffix == ".jsonl")
        else:
            frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CaptionSourceError(f"cannot read captions from {path}: {exc}") from exc
    check_column(frame.columns, text_column, str(path))
    return frame


def extract_table(
    captions: pd.DataFrame,
    extractor: TupleExtractor,
    text_column: str = "caption",
    max_chars: int = DEFAULT_MAX_CHARS,
    source: str = "captions",
    progress: bool = True,
    log: bool = True,
) -> pd.DataFrame:
    """Add ``tuples`` (JSON list of ORO dicts), ``n_tuples`` and ``status`` columns.

    Rows that cannot be parsed keep an empty tuple list and a ``status`` saying why
    (``missing``, ``empty``, ``not a string (int)``, ``non-english``); cleaned rows say
    what was done (``html stripped``, ``symbols removed``, ``truncated``); clean rows say
    ``ok`` even when nothing was found (``n_tuples`` is 0). ``text_column`` then holds the
    cleaned text that was parsed (the raw value is kept as ``<text_column>_raw``), so the sets
    built from this table train on the cleaned text. No row is dropped. Captions stream through spaCy in
    batches, so memory does not grow with Docs.

    Raises:
        CaptionColumnError: ``text_column`` is missing (a ``KeyError`` naming ``source``).
    """
    check_column(captions.columns, text_column, source)
    cleaned = [clean_caption(v, max_chars) for v in captions[text_column]]
    tuples_json: list[str] = []
    counts: list[int] = []
    status: list[str] = []
    results = _extract_rows(extractor, cleaned)
    for row, found in tqdm(
        zip(cleaned, results), total=len(cleaned), desc="extract O-R-O", disable=not progress
    ):
        tuples_json.append(json.dumps([t.as_dict() for t in found]))
        counts.append(len(found))
        status.append(row.status)
    out = captions.copy()
    # The text downstream sets train on is the text that was parsed (truncated, html
    # stripped, ...); the raw value stays beside it. Skipped rows keep their raw value.
    out[f"{text_column}_raw"] = captions[text_column]
    out[text_column] = [
        raw if row.skipped else row.text for raw, row in zip(captions[text_column], cleaned)
    ]
    out["tuples"] = tuples_json
    out["n_tuples"] = counts
    out["status"] = status
    if log:
        log_status_counts(out, source)
    return out


def _extract_rows(extractor: TupleExtractor, rows: list[CleanCaption]) -> Iterator[list]:
    """Parse the rows that are not skipped; yield ``[]`` for the others, in order."""
    parsed = extractor.iter_extract(r.text for r in rows if not r.skipped)
    for row in rows:
        yield [] if row.skipped else next(parsed)


def log_status_counts(table: pd.DataFrame, source: str) -> Counter:
    """Log row, tuple and status counts of an extracted table; return the status counts."""
    counts = Counter(table["status"])
    logger.info(
        "%s: %d rows, %d with tuples, %d tuples, status counts %s",
        source,
        len(table),
        int((table["n_tuples"] > 0).sum()),
        int(table["n_tuples"].sum()),
        dict(counts),
    )
    return counts
