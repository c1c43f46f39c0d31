"""Set statistics: a long count table and the per-rule balance report."""

from __future__ import annotations

import pandas as pd

STATS_COLUMNS = ["set", "rule_id", "kind", "source", "split", "n"]


def _counts(
    df: pd.DataFrame, name: str, kind_col: str | None, split_col: str | None = None
) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=STATS_COLUMNS)
    work = pd.DataFrame(
        {
            "set": name,
            "rule_id": df["rule_id"].fillna("").astype(str) if "rule_id" in df else "",
            "kind": df[kind_col].astype(str) if kind_col else "",
            "source": df["source"].astype(str) if "source" in df else "",
            "split": df[split_col].astype(str) if split_col else "",
        }
    )
    return (
        work.groupby(["set", "rule_id", "kind", "source", "split"], dropna=False)
        .size()
        .rename("n")
        .reset_index()
    )


def set_stats(
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    eval_set: pd.DataFrame,
    lm_forget: pd.DataFrame | None = None,
    lm_retain: pd.DataFrame | None = None,
    notes: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Row counts per set, rule, kind (eval: ``attack/label``), source and split (LM sets).

    ``notes`` (e.g. rows dropped for leakage) are appended as ``set="notes"`` rows.
    """
    ev = (
        eval_set.assign(kind=eval_set["attack"].astype(str) + "/" + eval_set["label"].astype(str))
        if len(eval_set)
        else eval_set
    )
    parts = [
        _counts(forget, "forget", None),
        _counts(retain, "retain", "kind"),
        _counts(ev, "eval", "kind" if len(ev) else None),
    ]
    for name, df in (("lm_forget", lm_forget), ("lm_retain", lm_retain)):
        if df is not None:
            parts.append(_counts(df, name, None, "split"))
    if notes:
        parts.append(
            pd.DataFrame(
                [
                    {
                        "set": "notes",
                        "rule_id": "",
                        "kind": k,
                        "source": "",
                        "split": "",
                        "n": int(v),
                    }
                    for k, v in notes.items()
                ]
            )
        )
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return out[STATS_COLUMNS].sort_values(STATS_COLUMNS[:5], kind="stable").reset_index(drop=True)


def balance_report(
    forget: pd.DataFrame, retain: pd.DataFrame, eval_set: pd.DataFrame
) -> pd.DataFrame:
    """One row per rule: forget rows, retain rows per kind, eval rows, and the retain/forget ratio."""
    f = forget.groupby("rule_id").size().rename("forget")
    r = retain[retain["kind"] != "general"].pivot_table(
        index="rule_id", columns="kind", values="text", aggfunc="count", fill_value=0
    )
    r.columns = [f"retain_{c}" for c in r.columns]
    e = eval_set[eval_set["label"] != "distractor"].pivot_table(
        index="rule_id", columns="label", values="text", aggfunc="count", fill_value=0
    )
    e.columns = [f"eval_{c}" for c in e.columns]
    out = pd.concat([f, r, e], axis=1).fillna(0).astype(int)
    retain_cols = [c for c in out.columns if c.startswith("retain_")]
    out["retain_total"] = out[retain_cols].sum(axis=1)
    out["retain_forget_ratio"] = (
        out["retain_total"] / out["forget"].where(out["forget"] > 0)
    ).round(3)
    return out.rename_axis("rule_id").reset_index()


def stats_metrics(stats: pd.DataFrame) -> dict[str, float]:
    """Flat metrics for MLflow: ``sets.<set>.n`` and ``sets.<set>.<rule>.n``."""
    out: dict[str, float] = {}
    body = stats[stats["set"] != "notes"]
    for name, part in body.groupby("set"):
        out[f"sets.{name}.n"] = float(part["n"].sum())
        for rule, rpart in part[part["rule_id"] != ""].groupby("rule_id"):
            out[f"sets.{name}.{rule}.n"] = float(rpart["n"].sum())
    for row in stats[stats["set"] == "notes"].itertuples():
        out[f"sets.notes.{row.kind}"] = float(row.n)
    return out
