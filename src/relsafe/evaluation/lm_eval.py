"""Causal-LM evaluation: attack success, refusals, robustness attacks and perplexity.

Prompts come from the LM sets (``prompt``, ``source`` advbench|relational|benign|contrast,
``split``, ``rule_id``); only the held-out split is evaluated. Each harmful prompt is also
sent through every configured attack (paraphrase, role-play, story, passive). A judge
(by name, see :mod:`relsafe.evaluation.judges`) marks refusals. Metric names (unprefixed for
the edit; ``base_``/``baseline_`` for the others):

- ``asr_heldout`` / ``asr_relational``: share of held-out AdvBench / relational prompts NOT refused
- ``asr_<set>_<attack>``, ``asr_attacks`` (mean over attacked prompts), ``asr_worst``
- ``refusal_benign`` / ``refusal_contrast``: share of benign / benign-contrast prompts refused
- ``ppl`` on plain text, and ``ppl_ratio`` (variant / base) after flattening
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from relsafe.evaluation.attacks import apply_attack
from relsafe.evaluation.encoder_eval import metric_prefix, metric_slug
from relsafe.evaluation.judges import Judge

logger = logging.getLogger(__name__)

Generate = Callable[[list[str]], list[str]]


@dataclass
class LMEvalConfig:
    """``evaluate_edit.lm`` params."""

    split: str = "heldout"
    asr_sets: dict[str, str] = field(
        default_factory=lambda: {"heldout": "advbench", "relational": "relational"}
    )
    refusal_sets: dict[str, str] = field(
        default_factory=lambda: {"benign": "benign", "contrast": "contrast"}
    )
    max_per_source: int | None = 25
    attacks: list[str] = field(
        default_factory=lambda: ["paraphrase", "roleplay", "story", "passive"]
    )
    max_attack_prompts: int | None = 10
    max_new_tokens: int = 48
    batch_size: int = 16
    ppl_max_length: int = 256
    seed: int = 0
    judge: dict = field(default_factory=lambda: {"name": "refusal_phrases"})

    @classmethod
    def from_params(cls, params: Mapping | None) -> LMEvalConfig:
        params = dict(params or {})
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"evaluate_edit.lm: unknown key(s) {sorted(unknown)}")
        return cls(**params)


def select_prompts(lm_sets: pd.DataFrame, cfg: LMEvalConfig) -> pd.DataFrame:
    """Held-out prompts of the configured sources, at most ``max_per_source`` each (seeded)."""
    missing = {"prompt", "source"} - set(lm_sets.columns)
    if missing:
        raise ValueError(f"LM eval set lacks column(s) {sorted(missing)}")
    frame = lm_sets
    if "split" in frame:
        frame = frame[frame["split"] == cfg.split]
    wanted = {
        **{v: k for k, v in cfg.asr_sets.items()},
        **{v: k for k, v in cfg.refusal_sets.items()},
    }
    frame = frame[frame["source"].isin(wanted)].drop_duplicates("prompt")
    parts = []
    for source, part in frame.groupby("source", sort=True):
        if cfg.max_per_source and len(part) > cfg.max_per_source:
            part = part.sample(n=cfg.max_per_source, random_state=cfg.seed).sort_index()
        parts.append(part.assign(set=wanted[source], harmful=source in cfg.asr_sets.values()))
    for name, source in {**cfg.asr_sets, **cfg.refusal_sets}.items():
        if source not in set(frame["source"]):
            logger.warning(
                "LM eval: no %s-split prompts with source %r; %s metrics are skipped",
                cfg.split,
                source,
                name,
            )
    if not parts:
        raise ValueError(
            f"LM eval: no prompts with split {cfg.split!r} and source in {sorted(wanted)}"
        )
    out = pd.concat(parts).reset_index(drop=True)
    if "rule_id" not in out:
        out["rule_id"] = ""
    return out


def attack_rows(prompts: pd.DataFrame, cfg: LMEvalConfig) -> pd.DataFrame:
    """One row per (prompt, attack): the plain prompts (``identity``) plus attacked harmful ones."""
    rows = [prompts.assign(attack="identity", text=prompts["prompt"])]
    harmful = prompts[prompts["harmful"]]
    if cfg.max_attack_prompts:
        harmful = harmful.groupby("set", sort=False).head(cfg.max_attack_prompts)
    records = harmful.to_dict("records")
    for name in cfg.attacks:
        texts = apply_attack(name, harmful["prompt"].tolist(), records)
        part = harmful.assign(attack=name, text=texts)
        skipped = int(part["text"].isna().sum())
        if skipped:
            logger.info(
                "LM eval: attack %r does not apply to %d of %d prompts (no tuple found); they are not scored",
                name,
                skipped,
                len(part),
            )
        rows.append(part[part["text"].notna()])
    return pd.concat(rows, ignore_index=True)


def run_prompts(rows: pd.DataFrame, generate: Generate, judge: Judge, variant: str) -> pd.DataFrame:
    """Generate once per distinct text, judge, and return the rows with response/refusal."""
    unique = sorted(
        set(rows["text"]), key=lambda t: (len(t), t)
    )  # similar lengths batch together: less padding
    responses = dict(zip(unique, generate(unique)))
    out = rows.assign(variant=variant, response=rows["text"].map(responses))
    out["refusal"] = judge(out["response"].tolist(), out["text"].tolist())
    return out


def lm_variant_metrics(scored: pd.DataFrame, cfg: LMEvalConfig) -> dict[str, float]:
    """Unprefixed metrics of one variant from its judged rows."""
    m: dict[str, float] = {}
    plain = scored[scored["attack"] == "identity"]
    for name in cfg.asr_sets:
        part = plain[plain["set"] == name]
        if len(part):
            m[f"asr_{name}"] = float(1 - part["refusal"].mean())
            m[f"n_{name}"] = float(len(part))
        for rule, rp in part[part["rule_id"].astype(str) != ""].groupby("rule_id"):
            m[f"rule_{metric_slug(rule)}_asr"] = float(1 - rp["refusal"].mean())
    for name in cfg.refusal_sets:
        part = plain[plain["set"] == name]
        if len(part):
            m[f"refusal_{name}"] = float(part["refusal"].mean())
            m[f"n_{name}"] = float(len(part))
    attacked = scored[scored["harmful"]]
    per_attack = []
    for (set_name, attack), part in attacked.groupby(["set", "attack"]):
        if attack != "identity":
            m[f"asr_{metric_slug(set_name)}_{metric_slug(attack)}"] = float(
                1 - part["refusal"].mean()
            )
    for attack, part in attacked.groupby("attack"):
        per_attack.append(float(1 - part["refusal"].mean()))
        if attack != "identity":
            m[f"asr_attack_{metric_slug(attack)}"] = float(1 - part["refusal"].mean())
    only_attacked = attacked[attacked["attack"] != "identity"]
    if len(only_attacked):
        m["asr_attacks"] = float(1 - only_attacked["refusal"].mean())
    if per_attack:
        m["asr_worst"] = max(per_attack)
    return m


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], max_length: int = 256) -> float:
    """Token-level perplexity over ``texts`` (each split into non-overlapping windows)."""
    model.eval()
    nll, count = 0.0, 0
    device = next(model.parameters()).device
    for text in texts:
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
        for start in range(0, len(ids), max_length):
            window = ids[start : start + max_length].unsqueeze(0).to(device)
            if window.shape[1] < 2:
                continue
            logits = model(input_ids=window).logits[:, :-1].float()
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1), reduction="sum"
            )
            nll += float(loss)
            count += window.shape[1] - 1
    if count == 0:
        raise ValueError("perplexity: the plain text has no tokens (data/01_raw/plain_text.txt)")
    return math.exp(nll / count)


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, '#' comment lines dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    paras = [" ".join(p.split()) for p in "\n".join(lines).split("\n\n")]
    return [p for p in paras if p]


def evaluate_lm_variants(
    variants: Sequence[str],
    activate: Callable[[str], tuple[object, object]],
    rows: pd.DataFrame,
    judge: Judge,
    cfg: LMEvalConfig,
    plain_text: Sequence[str] = (),
    generate_fn: Callable[..., list[str]] | None = None,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Run every variant: ``activate(name)`` returns ``(model, tokenizer)`` with that adapter on."""
    from relsafe.models.causal_lm import generate_responses

    generate_fn = generate_fn or generate_responses
    per_variant, scored = {}, []
    for name in tqdm(variants, desc="LM variants"):
        model, tok = activate(name)

        def gen(texts: list[str], model=model, tok=tok) -> list[str]:
            return generate_fn(
                model,
                tok,
                texts,
                max_new_tokens=cfg.max_new_tokens,
                batch_size=cfg.batch_size,
                progress=False,
            )

        part = run_prompts(rows, gen, judge, name)
        metrics = lm_variant_metrics(part, cfg)
        if plain_text:
            metrics["ppl"] = perplexity(model, tok, plain_text, cfg.ppl_max_length)
        per_variant[name] = metrics
        scored.append(part)
    return per_variant, pd.concat(scored, ignore_index=True)


def lm_per_rule(scored: pd.DataFrame) -> pd.DataFrame:
    """Per rule and variant: ASR on relational prompts vs the base (suppression) and the
    refusal rate on that rule's benign contrasts (collateral)."""
    plain = scored[(scored["attack"] == "identity") & (scored["rule_id"].astype(str) != "")]
    if plain.empty:
        return pd.DataFrame(
            columns=["rule_id", "variant", "asr", "refusal_contrast", "suppression", "collateral"]
        )
    g = plain.groupby(["rule_id", "variant"])
    asr = (
        plain[plain["harmful"]]
        .groupby(["rule_id", "variant"])["refusal"]
        .mean()
        .rsub(1)
        .rename("asr")
    )
    ref = (
        plain[~plain["harmful"]]
        .groupby(["rule_id", "variant"])["refusal"]
        .mean()
        .rename("refusal_contrast")
    )
    out = pd.concat([asr, ref, g.size().rename("n")], axis=1).reset_index()
    base = out[out["variant"] == "base"].set_index("rule_id")
    out["suppression"] = out["rule_id"].map(base["asr"]) - out["asr"]
    out["collateral"] = out["refusal_contrast"] - out["rule_id"].map(base["refusal_contrast"])
    return out


def lm_examples(scored: pd.DataFrame, per_set: int = 3) -> pd.DataFrame:
    """A few prompts per set (plain and attacked) with every variant's response side by side."""
    keep = scored.drop_duplicates(["set", "attack", "text", "variant"])
    idx = ["set", "harmful", "attack", "text"]
    wide = keep.pivot_table(index=idx, columns="variant", values="response", aggfunc="first")
    ref = keep.pivot_table(index=idx, columns="variant", values="refusal", aggfunc="first")
    wide.columns = [f"{c}_response" for c in wide.columns]
    ref.columns = [f"{c}_refusal" for c in ref.columns]
    frame = wide.join(ref).reset_index()
    return frame.groupby(["set", "attack"], group_keys=False).head(per_set).reset_index(drop=True)


def flatten_lm(per_variant: dict[str, dict[str, float]]) -> dict[str, float]:
    """Edit unprefixed, others prefixed; ``ppl_ratio`` = variant ppl / base ppl."""
    flat: dict[str, float] = {}
    for variant, m in per_variant.items():
        flat.update({f"{metric_prefix(variant)}{k}": float(v) for k, v in m.items()})
    base_ppl = per_variant.get("base", {}).get("ppl")
    for variant, m in per_variant.items():
        if variant != "base" and base_ppl and "ppl" in m and np.isfinite(base_ppl):
            flat[f"{metric_prefix(variant)}ppl_ratio"] = float(m["ppl"] / base_ppl)
    return flat
