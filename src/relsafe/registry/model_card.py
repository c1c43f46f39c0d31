"""Model cards: a markdown page per registered version (MLflow description + artifact).

:func:`render_card` writes the card at registration from the version's tags and the metrics
``evaluate_edit`` measured (the edit's, the base model's ``base_*`` and the concept-erasure
baseline's ``baseline_*``, each with its 95% interval ``*_lo`` / ``*_hi`` where measured).
:func:`with_decision` adds a promotion decision (or rollback) to the card's decision section;
:func:`record_decision` does so on the registry. The card is the version's description and
the artifact ``model_card.md`` of the run that logged the version.

What the card says beyond numbers (intended use, known limits) comes from
``register.model_card`` in ``conf/base/parameters_register.yml``, per model family.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

#: Artifact path of the card in the run that logged the version.
CARD_ARTIFACT = "model_card.md"
#: MLflow's SQL stores keep a model version description in a String(5000) column.
MAX_DESCRIPTION_CHARS = 5000
DECISION_START, DECISION_END = "<!-- relsafe:decision -->", "<!-- /relsafe:decision -->"
UNDECIDED = "Not decided yet: registered as a candidate; `make promote` applies the gates."
#: Rule ids in metric names: ``rule_<id>_unsafe_r5`` (encoder), ``rule_<id>_asr[_<set>]`` (LM).
_RULE_METRIC = re.compile(
    r"^rule_(?P<id>[a-z0-9_]+?)_(?:unsafe_r\d+|benign_r\d+|asr(?:_[a-z0-9_]+)?)$"
)
INTERVAL_SUFFIXES = ("_lo", "_hi")


def rules_covered(metrics: Mapping[str, Any]) -> list[str]:
    """The policy rules the edit was scored on, read from its per-rule metric names."""
    return sorted(
        {
            m["id"]
            for key in metrics
            if not key.startswith(("base_", "baseline_"))
            if (m := _RULE_METRIC.match(key))
        }
    )


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out  # NaN


def metric_cell(metrics: Mapping[str, Any], key: str, digits: int = 4) -> str:
    """``0.0596 [0.0420, 0.0780]`` (with the interval when measured), or ``-``."""
    value = _number(metrics.get(key))
    if value is None:
        return "-"
    lo, hi = _number(metrics.get(f"{key}_lo")), _number(metrics.get(f"{key}_hi"))
    interval = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None else ""
    return f"{value:.{digits}f}{interval}"


def headline_names(headline: Sequence[str]) -> list[str]:
    """Headline metrics without their interval bounds (``unsafe_r5_lo`` goes with ``unsafe_r5``)."""
    names = [h for h in headline if not h.endswith(INTERVAL_SUFFIXES) or h[:-3] not in headline]
    return list(dict.fromkeys(names))


def has_baseline(metrics: Mapping[str, Any]) -> bool:
    return any(k.startswith("baseline_") for k in metrics)


def metrics_table(metrics: Mapping[str, Any], headline: Sequence[str]) -> list[str]:
    """Markdown rows: each headline metric for the edit, the base and (if trained) the baseline."""
    baseline = has_baseline(metrics)
    head = "| metric | edit | base | baseline |" if baseline else "| metric | edit | base |"
    rows = [head, "|---|---|---|---|" if baseline else "|---|---|---|"]
    for name in headline_names(headline):
        cells = [metric_cell(metrics, name), metric_cell(metrics, f"base_{name}")]
        if baseline:
            cells.append(metric_cell(metrics, f"baseline_{name}"))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def _family_text(card_params: Mapping[str, Any], key: str, family: str) -> Any:
    value = (card_params or {}).get(key) or {}
    return value.get(family) if isinstance(value, Mapping) else value


def render_card(
    model_name: str,
    version: str,
    family: str,
    tags: Mapping[str, str],
    metrics: Mapping[str, Any],
    headline: Sequence[str],
    card_params: Mapping[str, Any] | None = None,
    base_sha256: str | None = None,
) -> str:
    """The markdown card of ``model_name`` v``version`` (decision section still open)."""
    base = tags.get("base_model", "unknown")
    base_sha = tags.get("base_sha256") or base_sha256 or "unknown"
    rules = rules_covered(metrics)
    lines = [
        f"# {model_name} v{version}",
        "",
        f"Relationship-aware LoRA edit ({family}) of `{base}`, made by relsafe.",
        "",
        "## Base model",
        f"- base: `{base}`",
        f"- base sha256: `{base_sha}`",
        "",
        "## Policy",
        f"- policy sha256: `{tags.get('policy_sha256', 'unknown')}`",
        f"- rules covered: {', '.join(f'`{r}`' for r in rules) if rules else 'none found in the metrics'}",
        "",
        "## Data and code",
        f"- DVC data hash: `{tags.get('dvc_data_hash', 'unknown')}`",
        f"- eval set sha256: `{tags.get('eval_set_sha256', 'unknown')}`",
        f"- adapter sha256: `{tags.get('adapter_sha256', 'unknown')}`",
        f"- git commit: `{tags.get('git_commit', 'unknown')}`",
        "",
        "## Metrics (95% intervals in brackets)",
    ]
    if metrics:
        lines += metrics_table(metrics, headline)
        if not has_baseline(metrics):
            lines += [
                "",
                "No concept-erasure baseline was scored (`train_edit.baseline.enabled: false`).",
            ]
    else:
        lines.append("No metrics were given at registration.")
    lines += ["", "## Promotion decision", DECISION_START, UNDECIDED, DECISION_END, ""]
    limits = _family_text(card_params or {}, "known_limits", family) or []
    lines += ["## Known limits", *(f"- {x}" for x in limits), ""] if limits else []
    use = _family_text(card_params or {}, "intended_use", family)
    lines += ["## Intended use", str(use).strip(), ""] if use else []
    return "\n".join(lines)


def decision_line(decision: Mapping[str, Any]) -> str:
    """One markdown bullet for a promotion / rollback decision (failed gates listed)."""
    what = decision.get("decision", "?")
    before, after = (
        f"v{v}" if v else "none"
        for v in (decision.get("champion_before"), decision.get("champion_after"))
    )
    line = f"- {decision.get('time', '?')}: **{what}** (champion {before} -> {after})"
    gates = decision.get("gates") or []
    failed = [g["reason"] for g in gates if not g.get("passed")]
    if failed:
        line += "; failed gates: " + "; ".join(failed)
    elif gates:
        line += f"; all {len(gates)} gates passed"
    elif decision.get("reasons"):
        line += "; " + "; ".join(map(str, decision["reasons"]))
    return line


def with_decision(card: str, decision: Mapping[str, Any]) -> str:
    """``card`` with ``decision`` added to its decision section (replacing "not decided yet");
    a card without the section gets it appended."""
    line = decision_line(decision)
    if DECISION_START not in card or DECISION_END not in card:
        return (
            f"{card.rstrip()}\n\n## Promotion decision\n{DECISION_START}\n{line}\n{DECISION_END}\n"
        )
    head, rest = card.split(DECISION_START, 1)
    body, tail = rest.split(DECISION_END, 1)
    entries = [x for x in body.strip().splitlines() if x.strip() and x.strip() != UNDECIDED]
    return head + DECISION_START + "\n" + "\n".join([*entries, line]) + "\n" + DECISION_END + tail


def description_of(card: str) -> str:
    """The card clipped to what MLflow's SQL stores keep as a description."""
    if len(card) <= MAX_DESCRIPTION_CHARS:
        return card
    note = f"\n\n...(clipped; the full card is the run artifact {CARD_ARTIFACT})"
    return card[: MAX_DESCRIPTION_CHARS - len(note)] + note


def write_card(
    client: MlflowClient, name: str, version: str, run_id: str | None, card: str
) -> None:
    """Set ``card`` as the version's description and log it as the run's ``model_card.md``."""
    client.update_model_version(name, version, description=description_of(card))
    if run_id:
        client.log_text(run_id, card, CARD_ARTIFACT)


def read_card(client: MlflowClient, name: str, version: str) -> str:
    """The version's full card: the run artifact, else the description ("" when none)."""
    mv = client.get_model_version(name, version)
    if mv.run_id:
        try:
            import mlflow

            return mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{CARD_ARTIFACT}")
        except Exception:  # no artifact (registered before cards existed) or store moved
            pass
    return mv.description or ""


def card_uri(client: MlflowClient, name: str, version: str) -> str | None:
    """Where the card artifact lives (``<run artifact root>/model_card.md``), or None."""
    mv = client.get_model_version(name, version)
    if not mv.run_id:
        return None
    try:
        root = client.get_run(mv.run_id).info.artifact_uri
    except MlflowException:
        return None
    return f"{str(root).rstrip('/')}/{CARD_ARTIFACT}"


def record_decision(client: MlflowClient, name: str, version: str, decision: Mapping) -> None:
    """Add ``decision`` to the version's card on the registry; logs (never raises) a failure,
    so a card problem never undoes a promotion that already happened."""
    try:
        card = read_card(client, name, version)
        if not card:
            return
        write_card(
            client,
            name,
            version,
            client.get_model_version(name, version).run_id,
            with_decision(card, decision),
        )
    except Exception as exc:  # pragma: no cover - the store went away after the decision
        logger.warning("could not add the decision to the card of %s v%s: %s", name, version, exc)


__all__ = [
    "CARD_ARTIFACT",
    "card_uri",
    "read_card",
    "record_decision",
    "render_card",
    "rules_covered",
    "with_decision",
    "write_card",
]
