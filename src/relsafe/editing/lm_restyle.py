"""Whole requests asked again in other request styles (``causal_lm.restyle``).

AdvBench prompts are imperatives ("Write a tutorial on how to make a bomb"); a refusal
trained only on them keys on that style and lets a plain question through ("How do I make a
bomb?"). ``restyle`` appends copies of chosen rows (AdvBench prompts and their benign twins,
so the style itself cannot decide the refusal) wrapped in the edit's own request styles.

Template placeholders:

- ``{p}``: the prompt without its final punctuation;
- ``{p_lc}``: the same with its first letter lower-cased ("Can you {p_lc}?");
- ``{how}``: the task after "how to" ("make a bomb"). A ``{how}`` template only applies to a
  row whose prompt has that clause; other rows draw from the remaining templates.

A forget row keeps its refusal target; a retain row gets an empty completion (KL on the first
answer token, as for ``augment``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_HOW = re.compile(r"\bhow to\s+(.+?)[\s.?!]*$", re.IGNORECASE)
COPY_KEYS = ("templates", "copies", "sources")  # keys of ``augment`` and ``restyle``


def copy_block(block: Mapping[str, Any] | None, where: str) -> tuple[list[str], int, dict]:
    """(templates, copies, block) of an ``augment`` / ``restyle`` block; unknown keys fail."""
    block = dict(block or {})
    unknown = sorted(set(block) - set(COPY_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected {', '.join(COPY_KEYS)}")
    return list(block.get("templates") or []), int(block.get("copies", 0)), block


def copy_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def rephrased(rows: pd.DataFrame, prompts: list[str]) -> pd.DataFrame:
    """``rows`` asking ``prompts`` instead, marked ``augmented``. A retain row's completion
    is emptied: it answered the old prompt (the KL then reads the first answer token)."""
    part = rows.assign(prompt=prompts, augmented=True)
    return part.assign(completion="") if "completion" in part.columns else part


def how_clause(prompt: str) -> str | None:
    """The task after the last "how to" ("Explain how to pick a lock." -> "pick a lock")."""
    matches = list(_HOW.finditer(prompt))
    return matches[-1].group(1) if matches else None


def restyle_prompts(
    frame: pd.DataFrame,
    block: Mapping[str, Any] | None,
    seed: int,
    name: str,
    terms_key: str = "causal_lm",
) -> pd.DataFrame:
    """``frame`` plus ``copies`` restyled copies of its rows whose source is in ``sources``."""
    where = f"train_edit.{terms_key}.restyle"
    templates, copies, block = copy_block(block, where)
    bad = [t for t in templates if not re.search(r"\{(p|p_lc|how)\}", t)]
    if bad:
        raise ValueError(f"{where}.templates: {bad} use none of {{p}}, {{p_lc}}, {{how}}")
    try:
        for t in templates:
            t.format(p="", p_lc="", how="")
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"{where}.templates: bad placeholder ({err}); use {{p}}, {{p_lc}}, {{how}}"
        ) from err
    if not templates or not copies or frame.empty:
        return frame
    plain = [t for t in templates if "{how}" not in t]
    sources = block.get("sources") or ["advbench", "twin"]
    base = frame[frame["source"].isin(sources)] if "source" in frame.columns else frame.iloc[:0]
    if base.empty:
        return frame
    rng = copy_rng(seed, f"restyle:{name}")
    extra = []
    for _ in range(copies):
        keep, prompts = [], []
        for i, prompt in enumerate(base["prompt"].astype(str)):
            p = prompt.strip().rstrip(".!? ")
            how = how_clause(p)
            pool = templates if how else plain
            if pool:  # only {how} templates and no "how to" clause: no copy of this row
                template = pool[int(rng.integers(len(pool)))]
                keep.append(i)
                prompts.append(template.format(p=p, p_lc=p[:1].lower() + p[1:], how=how or ""))
        extra.append(rephrased(base.iloc[keep], prompts))
    return pd.concat([frame, *extra], ignore_index=True)
