"""Portable local stores: artifact locations in a local sqlite store are relative to its folder.

MLflow (and kedro-mlflow) record every artifact location in a ``sqlite:///mlflow.db`` store as
an absolute path: the default artifact root ``./mlruns`` is resolved when an experiment is
created, and each run, logged model and model version inherits it (mlflow/mlflow#3144 is
open; there is no relative option). A moved or cloned project with its ``mlflow.db`` then
reads and writes the *original* project's ``mlruns/``, or fails when it is gone.

:func:`make_portable` rewrites those locations in the store to paths relative to the store's
folder (the project root), e.g. ``mlruns/1/<run>/artifacts``. MLflow resolves a relative
local path against the working directory, exactly like the ``sqlite:///mlflow.db`` URI
itself, so the project works wherever it lies, as long as commands run from its root.
Experiments then hand the relative location on to their new runs and models.

What is rewritten:

- an absolute (or ``file:``) location under the store's folder, to its relative path;
- an experiment at MLflow's default layout ``<anywhere>/mlruns/<experiment id>`` (the project
  was moved or copied), to ``mlruns/<experiment id>``;
- a run, logged model, model version or trace location inside such an experiment's old
  folder (``.../mlruns/<id>/...``), to the same path under the new relative location.

A location elsewhere (an artifact root chosen on purpose, ``s3://``, ``mlflow-artifacts:``)
is left alone. Calling it again changes nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

logger = logging.getLogger(__name__)

#: MLflow's default artifact root for a local store, relative to the working directory.
ARTIFACT_DIR = "mlruns"
#: (table, key column, location column, experiment column or None).
_ROWS = (
    ("runs", "run_uuid", "artifact_uri", "experiment_id"),
    ("logged_models", "model_id", "artifact_location", "experiment_id"),
    ("model_versions", "rowid", "storage_location", None),
    ("model_versions", "rowid", "source", None),
)
_TRACE_TAG = "mlflow.artifactLocation"


def sqlite_store_path(uri: str | None) -> Path | None:
    """The database file of a ``sqlite:///...`` URI (relative to the working directory when
    the URI is); None for any other store."""
    if not uri or not str(uri).startswith("sqlite:///"):
        return None
    path = str(uri)[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _local_path(value: str | None) -> PurePosixPath | None:
    """An absolute local path from a location (plain path or ``file:`` URI); None otherwise."""
    if not value:
        return None
    if value.startswith("file:"):
        parsed = urlparse(value)
        if parsed.netloc not in ("", "localhost"):
            return None
        value = unquote(parsed.path)
    elif "://" in value or (":" in value.split("/", 1)[0]):  # s3://, models:/, runs:/, ...
        return None
    path = PurePosixPath(value)
    return path if path.is_absolute() else None


def _is_relative(value: str | None) -> bool:
    """A relative local path (no scheme, not absolute)."""
    return bool(value) and ":" not in value.split("/", 1)[0] and not value.startswith("/")


def _under(path: PurePosixPath, root: PurePosixPath) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else "."


def _relocate(path: PurePosixPath, rel_dirs: dict[str, str]) -> str | None:
    """``<anywhere>/mlruns/<id>/rest`` -> ``<relative location of experiment id>/rest``."""
    parts = path.parts
    for i in range(len(parts) - 2, 0, -1):  # the last ``mlruns/<id>`` wins
        if parts[i] == ARTIFACT_DIR and parts[i + 1] in rel_dirs:
            return PurePosixPath(rel_dirs[parts[i + 1]], *parts[i + 2 :]).as_posix()
    return None


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def make_portable(tracking_uri: str | None = None) -> int:
    """Rewrite the artifact locations of a local sqlite store relative to its folder.

    ``tracking_uri`` defaults to MLflow's current tracking URI. Does nothing for other stores,
    for a store that does not exist yet, and (with a warning) when the working directory is
    not the store's folder, because MLflow resolves relative locations against it.

    Returns:
        The number of locations rewritten.
    """
    if tracking_uri is None:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    db = sqlite_store_path(tracking_uri)
    if db is None or not db.is_file():
        return 0
    root = db.resolve().parent
    if Path.cwd().resolve() != root:
        logger.warning(
            "%s: artifact locations are kept relative to %s; run from that folder "
            "(the working directory is %s)",
            tracking_uri,
            root,
            Path.cwd(),
        )
        return 0
    roots = {PurePosixPath(root.as_posix()), PurePosixPath(Path(str(db.absolute())).parent)}
    changed = 0
    con = sqlite3.connect(db, timeout=30)
    try:
        with con:  # one transaction
            tables = _tables(con)
            if "experiments" not in tables:
                return 0
            rel_dirs: dict[str, str] = {}
            updates: list[tuple[str, str, str, object, str]] = []
            for exp_id, location in con.execute(
                "SELECT experiment_id, artifact_location FROM experiments"
            ):
                path = _local_path(location)
                new = None
                if path is not None:
                    new = next((r for r in (_under(path, x) for x in roots) if r), None)
                    if (
                        new is None
                        and path.name == str(exp_id)
                        and path.parent.name == ARTIFACT_DIR
                    ):
                        new = f"{ARTIFACT_DIR}/{exp_id}"
                if new is not None:
                    updates.append(
                        ("experiments", "experiment_id", "artifact_location", exp_id, new)
                    )
                    rel_dirs[str(exp_id)] = new
                elif _is_relative(location):
                    rel_dirs[str(exp_id)] = location  # already relative
            for table, key, column, exp_col in _ROWS:
                if table not in tables:
                    continue
                cols = f"{key}, {column}" + (f", {exp_col}" if exp_col else "")
                for row in con.execute(f"SELECT {cols} FROM {table}"):  # noqa: S608 - fixed names
                    new = _rewrite(row[1], roots, rel_dirs)
                    if new is not None:
                        updates.append((table, key, column, row[0], new))
            if "trace_tags" in tables:
                for rid, value in con.execute(
                    "SELECT request_id, value FROM trace_tags WHERE key = ?", (_TRACE_TAG,)
                ):
                    new = _rewrite(value, roots, rel_dirs)
                    if new is not None:
                        con.execute(
                            "UPDATE trace_tags SET value = ? WHERE request_id = ? AND key = ?",
                            (new, rid, _TRACE_TAG),
                        )
                        changed += 1
            for table, key, column, ident, new in updates:
                con.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {key} = ?",  # noqa: S608 - fixed names
                    (new, ident),
                )
            changed += len(updates)
    finally:
        con.close()
    if changed:
        logger.info(
            "%s: %d artifact location(s) made relative to %s (portable store)",
            tracking_uri,
            changed,
            root,
        )
    return changed


def _rewrite(value: str | None, roots: set[PurePosixPath], rel_dirs: dict[str, str]) -> str | None:
    path = _local_path(value)
    if path is None:
        return None
    for root in roots:
        rel = _under(path, root)
        if rel is not None:
            return rel
    return _relocate(path, rel_dirs)


def absolute_locations(tracking_uri: str) -> list[str]:
    """Every absolute local artifact location left in a sqlite store (for checks and tests)."""
    db = sqlite_store_path(tracking_uri)
    if db is None or not db.is_file():
        return []
    con = sqlite3.connect(db)
    try:
        tables = _tables(con)
        found = [
            loc
            for (loc,) in con.execute("SELECT artifact_location FROM experiments")
            if _local_path(loc) is not None
        ]
        for table, _key, column, _exp in _ROWS:
            if table in tables:
                found += [
                    v
                    for (v,) in con.execute(f"SELECT {column} FROM {table}")  # noqa: S608
                    if _local_path(v) is not None
                ]
        return found
    finally:
        con.close()


__all__ = ["ARTIFACT_DIR", "absolute_locations", "make_portable", "sqlite_store_path"]
