"""Metrics bound to the adapter they were measured on.

``evaluate_edit`` writes a ``binding`` block into ``metrics.json``::

    "binding": {
      "family": "encoder",
      "eval_set_sha256": "...",      # the rows that were scored
      "policy_sha256": "...",        # the safety policy the sets came from
      "adapters": {
        "edit":     {"sha256": "...", "kind": "edit",     "prefix": ""},
        "baseline": {"sha256": "...", "kind": "baseline", "prefix": "baseline_"}
      }
    }

Registration recomputes the adapter's content hash (:func:`relsafe.editing.adapter_io.content_hash`)
and refuses metrics that were not measured on it, and refuses a baseline unless asked for
explicitly. Promotion compares a challenger with a champion only when both were scored on
the same eval set and policy (:func:`comparable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relsafe.registry.errors import RegistrationFailed

BINDING_KEY = "binding"
#: Version tags written from the binding (promotion compares these).
ADAPTER_SHA_TAG, ADAPTER_KIND_TAG = "adapter_sha256", "adapter_kind"
EVAL_SET_TAG, POLICY_TAG = "eval_set_sha256", "policy_sha256"
KINDS = ("edit", "baseline")
PREFIXES = {"edit": "", "baseline": "baseline_"}


def make_binding(
    adapters: Mapping[str, Any], eval_set_sha256: str, policy_sha256: str, family: str
) -> dict:
    """The ``binding`` block for ``adapters`` (``{"edit": AdapterBundle, "baseline": ...}``)."""
    out = {}
    for variant, bundle in adapters.items():
        manifest = getattr(bundle, "manifest", {}) or {}
        out[variant] = {
            "sha256": bundle.content_hash(),
            "kind": str(manifest.get("kind", variant)),
            "prefix": PREFIXES.get(variant, f"{variant}_"),
            "skipped": bool(manifest.get("skipped", False)),
        }
    return {
        "family": family,
        "eval_set_sha256": eval_set_sha256,
        "policy_sha256": policy_sha256,
        "adapters": out,
    }


def split_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict | None]:
    """(the flat metrics, the binding block or None)."""
    flat = {k: v for k, v in metrics.items() if k != BINDING_KEY}
    binding = metrics.get(BINDING_KEY)
    return flat, binding if isinstance(binding, Mapping) else None


def bound_metrics(
    metrics: Mapping[str, Any],
    adapter_sha256: str,
    manifest: Mapping[str, Any],
    allow_baseline: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The metrics that belong to the adapter with ``adapter_sha256``, and the version tags
    that record the binding.

    For the edit these are the unprefixed metrics; for the baseline (only with
    ``allow_baseline``) the ``baseline_*`` metrics with the prefix removed.

    Raises:
        RegistrationFailed: no binding, an adapter the metrics were not measured on, a
            baseline without ``allow_baseline``, or a manifest that contradicts the binding.
    """
    flat, binding = split_metrics(metrics)
    if binding is None:
        raise RegistrationFailed(
            "metrics have no 'binding' block (adapter hash, eval-set hash): they cannot be tied "
            "to this adapter; re-run `kedro run --pipelines evaluate_edit`"
        )
    adapters = binding.get("adapters") or {}
    match = [(v, a) for v, a in adapters.items() if a.get("sha256") == adapter_sha256]
    if not match:
        scored = {v: str(a.get("sha256", ""))[:12] for v, a in adapters.items()}
        raise RegistrationFailed(
            f"metrics.json was measured on adapter(s) {scored}, not on this adapter "
            f"({adapter_sha256[:12]}...); re-run evaluate_edit on the adapter you register"
        )
    variant, entry = match[0]
    kind = str(entry.get("kind", variant))
    manifest_kind = manifest.get("kind")
    if manifest_kind not in KINDS:
        raise RegistrationFailed(
            f"adapter manifest kind {manifest_kind!r}: expected one of {KINDS}"
        )
    if manifest_kind != kind:
        raise RegistrationFailed(
            f"adapter manifest says kind {manifest_kind!r} but metrics.json scored it as {kind!r}"
        )
    if (kind == "baseline" or manifest.get("skipped")) and not allow_baseline:
        raise RegistrationFailed(
            f"this adapter is the {'skipped ' if manifest.get('skipped') else ''}concept-erasure "
            "baseline, not the edit; refusing to register it under the model's name "
            "(set register.allow_baseline: true to do so on purpose)"
        )
    policy = str(manifest.get("policy_sha256") or "")
    if binding.get("policy_sha256") and policy and policy != binding["policy_sha256"]:
        raise RegistrationFailed(
            f"adapter was trained on policy {policy[:12]}... but metrics.json was scored on "
            f"policy {str(binding['policy_sha256'])[:12]}..."
        )
    prefix = str(entry.get("prefix", ""))
    if prefix:
        own = {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
    else:
        own = {
            k: v
            for k, v in flat.items()
            if not k.startswith(("base_", *(p for p in PREFIXES.values() if p)))
        }
    tags = {
        ADAPTER_SHA_TAG: adapter_sha256,
        ADAPTER_KIND_TAG: kind,
        EVAL_SET_TAG: str(binding.get("eval_set_sha256") or "unknown"),
        POLICY_TAG: str(binding.get("policy_sha256") or policy or "unknown"),
    }
    return own, tags


def comparable(challenger_tags: Mapping[str, str], champion_tags: Mapping[str, str]) -> str | None:
    """None when both versions were scored on the same eval set and policy, else why not."""
    problems = []
    for tag, what in ((EVAL_SET_TAG, "eval set"), (POLICY_TAG, "policy")):
        a, b = challenger_tags.get(tag), champion_tags.get(tag)
        if not a or a == "unknown":
            problems.append(f"challenger has no {what} hash")
        elif not b or b == "unknown":
            problems.append(f"champion has no {what} hash")
        elif a != b:
            problems.append(f"different {what} ({a[:12]}... vs {b[:12]}...)")
    return "; ".join(problems) or None


__all__ = ["BINDING_KEY", "bound_metrics", "comparable", "make_binding", "split_metrics"]
