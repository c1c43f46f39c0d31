"""Two registered versions side by side: metrics with intervals, gate verdicts, lineage, cards.

:func:`compare_versions` reads both versions from the registry (their metrics as promotion
reads them, :func:`relsafe.registry.promotion.version_metrics`), judges B against A with the
promotion gates (:func:`relsafe.registry.promotion.gate_candidate`) and collects each
version's lineage (data hash, policy hash, git commit, ...) from its tags.
:func:`render_html` turns the result into a standalone page that links both model cards.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from relsafe.registry.aliases import get_registered_model, version_by_alias
from relsafe.registry.errors import AliasNotFound, RegistryError
from relsafe.registry.model_card import card_uri, headline_names, metric_cell, read_card
from relsafe.registry.promotion import DECISION_TAG, TIME_TAG, gate_candidate, version_metrics

#: Version tags that say where a version came from, in display order.
LINEAGE_TAGS = (
    "dvc_data_hash",
    "policy_sha256",
    "eval_set_sha256",
    "git_commit",
    "base_model",
    "base_sha256",
    "adapter_sha256",
    "family",
)


class VersionNotFound(RegistryError):
    """A version number the registered model does not have."""


def resolve_version(
    client: MlflowClient, name: str, ref: str, allow_missing_alias: bool = False
) -> ModelVersion | None:
    """Version ``ref`` of ``name``: a version number, or an alias (``champion``).

    Raises:
        ModelNotFound: no such registered model.
        AliasNotFound: no such alias (unless ``allow_missing_alias``: then None).
        VersionNotFound: no such version number.
    """
    get_registered_model(client, name)
    ref = str(ref).lstrip("v") if str(ref).lstrip("v").isdigit() else str(ref)
    if ref.isdigit():
        try:
            return client.get_model_version(name, ref)
        except MlflowException as exc:
            raise VersionNotFound(f"registered model {name!r} has no version {ref}") from exc
    try:
        return version_by_alias(client, name, ref)
    except AliasNotFound:
        if allow_missing_alias:
            return None
        raise


def version_summary(client: MlflowClient, mv: ModelVersion) -> dict[str, Any]:
    """Metrics, aliases, lineage, decision and card of one version."""
    tags = dict(mv.tags or {})
    aliases = list(getattr(mv, "aliases", []) or [])
    card = read_card(client, mv.name, str(mv.version))
    return {
        "name": mv.name,
        "version": str(mv.version),
        "aliases": aliases,
        "run_id": mv.run_id,
        "created": int(mv.creation_timestamp or 0),
        "metrics": version_metrics(client, mv),
        "lineage": {k: tags.get(k, "unknown") for k in LINEAGE_TAGS},
        "decision": tags.get(DECISION_TAG),
        "decision_time": tags.get(TIME_TAG),
        "card_uri": card_uri(client, mv.name, str(mv.version)) if card else None,
        "card": card,
    }


def metric_rows(
    a: dict | None, b: dict, names: Sequence[str]
) -> list[dict[str, float | str | None]]:
    """One row per metric: each side's value and interval, and B - A."""

    def side(summary: dict | None, key: str) -> dict[str, float | None]:
        metrics = (summary or {}).get("metrics", {})
        return {s: metrics.get(f"{key}{s}") for s in ("", "_lo", "_hi")}

    rows = []
    for name in names:
        sa, sb = side(a, name), side(b, name)
        delta = sb[""] - sa[""] if sa[""] is not None and sb[""] is not None else None
        rows.append(
            {
                "metric": name,
                "a": sa[""],
                "a_lo": sa["_lo"],
                "a_hi": sa["_hi"],
                "b": sb[""],
                "b_lo": sb["_lo"],
                "b_hi": sb["_hi"],
                "delta": delta,
            }
        )
    return rows


def compare_versions(
    client: MlflowClient,
    name: str,
    a_ref: str,
    b_ref: str,
    gates: dict,
    headline: Sequence[str] = (),
    missing_champion_metric: str = "fail",
) -> dict[str, Any]:
    """Version ``b_ref`` judged against ``a_ref`` (an alias that is not set yet counts as
    "no champion": the no-regression gates then pass, as in promotion)."""
    a_mv = resolve_version(client, name, a_ref, allow_missing_alias=True)
    b_mv = resolve_version(client, name, b_ref)
    a = version_summary(client, a_mv) if a_mv is not None else None
    b = version_summary(client, b_mv)
    gate_metrics = [*(gates or {}).get("absolute", {}), *(gates or {}).get("no_regression", {})]
    names = headline_names([*headline, *gate_metrics])
    results = gate_candidate(
        client,
        name,
        b_mv,
        a["version"] if a else None,
        gates,
        version_label(a_ref, a),
        missing_champion_metric,
    )
    return {
        "model_name": name,
        "a_ref": str(a_ref),
        "b_ref": str(b_ref),
        "a": a,
        "b": b,
        "metrics": metric_rows(a, b, names),
        "gates": [r.to_dict() for r in results],
        "passed": all(r.passed for r in results),
    }


def version_label(ref: str, summary: dict | None) -> str:
    """``champion v3`` for an alias, ``v3`` for a version number, ``champion (not set)``."""
    if summary is None:
        return f"{ref} (not set)"
    return (
        f"v{summary['version']}"
        if str(ref).lstrip("v").isdigit()
        else f"{ref} v{summary['version']}"
    )


def local_path(uri: str | None, root: Path) -> Path | None:
    """The local file behind an artifact URI (``file://`` or a path), else None."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        path = Path(uri)
        return path if path.is_absolute() else root / path
    return None


def card_href(uri: str | None, html_dir: Path, root: Path) -> str | None:
    """A link to a card from a page in ``html_dir``: relative for local files, else the URI."""
    path = local_path(uri, root)
    if path is None:
        return uri
    return Path(os.path.relpath(path.resolve(), html_dir.resolve())).as_posix()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_html(result: dict, html_dir: Path, root: Path, title: str | None = None) -> str:
    """A standalone HTML page of :func:`compare_versions`'s result."""
    esc = html.escape
    a, b = result["a"], result["b"]
    label_a, label_b = version_label(result["a_ref"], a), version_label(result["b_ref"], b)
    title = title or f"{result['model_name']}: {label_a} vs {label_b}"
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;"
        "text-align:left}.pass{color:#070}.fail{color:#b00;font-weight:bold}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Promotion gates on {esc(label_b)} against {esc(label_a)}: "
        + (
            "<span class='pass'>all pass</span>"
            if result["passed"]
            else "<span class='fail'>some fail</span>"
        )
        + "</p>",
        "<h2>Metrics (95% intervals in brackets)</h2><table>",
        f"<tr><th>metric</th><th>{esc(label_a)}</th><th>{esc(label_b)}</th><th>delta</th></tr>",
    ]
    for row in result["metrics"]:
        cells = []
        for side in ("a", "b"):
            metrics = {
                row["metric"]: row[side],
                f"{row['metric']}_lo": row[f"{side}_lo"],
                f"{row['metric']}_hi": row[f"{side}_hi"],
            }
            cells.append(metric_cell(metrics, row["metric"]))
        delta = "-" if row["delta"] is None else f"{row['delta']:+.4f}"
        out.append(
            f"<tr><td>{esc(row['metric'])}</td><td>{esc(cells[0])}</td>"
            f"<td>{esc(cells[1])}</td><td>{delta}</td></tr>"
        )
    out += ["</table>", "<h2>Gates</h2><table><tr><th>gate</th><th>verdict</th><th>why</th></tr>"]
    for gate in result["gates"]:
        cls, word = ("pass", "pass") if gate["passed"] else ("fail", "FAIL")
        out.append(
            f"<tr><td>{esc(gate['gate'])}</td><td class='{cls}'>{word}</td>"
            f"<td>{esc(gate['reason'])}</td></tr>"
        )
    out += [
        "</table>",
        "<h2>Lineage</h2><table>",
        f"<tr><th></th><th>{esc(label_a)}</th><th>{esc(label_b)}</th></tr>",
    ]
    for key in ("version", "aliases", "run_id", "decision", *LINEAGE_TAGS):
        vals = []
        for s in (a, b):
            if s is None:
                vals.append("-")
                continue
            v = s["lineage"].get(key) if key in LINEAGE_TAGS else s.get(key)
            vals.append(", ".join(v) if isinstance(v, list) else str(v if v is not None else "-"))
        out.append(
            f"<tr><td>{esc(key)}</td><td><code>{esc(vals[0])}</code></td>"
            f"<td><code>{esc(vals[1])}</code></td></tr>"
        )
    out += ["</table>", "<h2>Model cards</h2>"]
    for label, s in ((label_a, a), (label_b, b)):
        if s is None:
            out.append(f"<h3>{esc(label)}</h3><p>No version.</p>")
            continue
        href = card_href(s["card_uri"], html_dir, root)
        link = f" (<a href='{esc(href)}'>model_card.md</a>)" if href else ""
        body = esc(s["card"]) if s["card"] else "This version has no model card."
        out.append(
            f"<h3>{esc(label)}{link}</h3><details><summary>card</summary><pre>{body}</pre></details>"
        )
    out.append("</body></html>")
    return "\n".join(out)


__all__ = ["compare_versions", "render_html", "resolve_version", "version_summary"]
