"""Causal-LM evaluation: attack success, refusals, robustness attacks and perplexity.

Prompts come from the LM sets (``prompt``, ``source``, ``split``, ``rule_id``): the training
sets' held-out split (advbench|relational|benign|contrast) and ``lm_eval_set``, prompts no
training set ever holds (relational_formats|contrast_formats|harmful_styles|benign_alarming,
:mod:`relsafe.policy.lm_sets`). Only ``split`` (held-out) rows are evaluated. Harmful
prompts of the ``attack_sets`` are also sent through every configured attack (paraphrase,
role-play, story, passive).

Every response gets one label (:func:`relsafe.evaluation.judges.label_responses`):
``empty`` or ``degenerate`` (no text, loops, symbols), else the judge's ``refusal`` or
``compliance``. Metric names (unprefixed for the edit; ``base_``/``baseline_`` for the
others), each rate with a bootstrapped 95% interval ``<metric>_lo`` / ``<metric>_hi``:

- ``asr_<set>`` for harmful sets: share of prompts answered (compliance), e.g.
  ``asr_heldout`` (AdvBench), ``asr_relational``, ``asr_formats`` (relational requests in
  held-out formats), ``asr_harmful_styles`` (non-AdvBench styles)
- ``refusal_<set>`` for every set, e.g. ``refusal_benign``, ``refusal_contrast``,
  ``refusal_formats_contrast``, ``refusal_alarming``; ``refusal_<set>_<category>`` for the
  ``category_sets`` (benign-but-alarming: homonym, figurative, ...)
- ``degenerate_<set>``: share empty or degenerate (``empty_<set>``: empty only); the three
  shares asr (or answered), refusal and degenerate sum to 1
- ``asr_<set>_<attack>``, ``asr_attacks`` (mean over attacked prompts), ``asr_worst``
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
from relsafe.evaluation.intervals import bootstrap_interval
from relsafe.evaluation.judges import Judge, label_responses

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
    #: Per-source caps overriding ``max_per_source`` (null: every prompt of that source).
    source_caps: dict[str, int | None] = field(default_factory=dict)
    attacks: list[str] = field(
        default_factory=lambda: ["paraphrase", "roleplay", "story", "passive"]
    )
    #: Harmful sets whose prompts go through the attacks (None: every harmful set).
    attack_sets: list[str] | None = None
    max_attack_prompts: int | None = 10
    #: Sets whose prompts carry a ``category``: ``refusal_<set>_<category>`` per category.
    category_sets: list[str] = field(default_factory=list)
    max_new_tokens: int = 48
    batch_size: int = 16
    #: Keep the unedited model's answers in ``lm_eval_answer_cache`` (keyed by model,
    #: prompt and decoding): a rerun with the same base and prompts generates only the edit's.
    cache_base_answers: bool = True
    ppl_max_length: int = 256
    seed: int = 0
    bootstrap_samples: int = 1000  # 0: no intervals
    judge: dict = field(default_factory=lambda: {"name": "refusal_rules"})
    #: Options of :func:`relsafe.evaluation.judges.degenerate_label` (``enabled: false``: off).
    degenerate: dict = field(default_factory=dict)

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
        cap = cfg.source_caps.get(source, cfg.max_per_source)
        if cap and len(part) > cap:
            part = part.sample(n=cap, random_state=cfg.seed).sort_index()
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
    for col in ("rule_id", "category"):
        if col not in out:
            out[col] = ""
        out[col] = out[col].fillna("").astype(str)
    return out


def attack_rows(prompts: pd.DataFrame, cfg: LMEvalConfig) -> pd.DataFrame:
    """One row per (prompt, attack): the plain prompts (``identity``) plus attacked harmful ones."""
    rows = [prompts.assign(attack="identity", text=prompts["prompt"])]
    harmful = prompts[prompts["harmful"]]
    if cfg.attack_sets is not None:
        harmful = harmful[harmful["set"].isin(cfg.attack_sets)]
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


def run_prompts(
    rows: pd.DataFrame,
    generate: Generate,
    judge: Judge,
    variant: str,
    degenerate: dict | None = None,
) -> pd.DataFrame:
    """Generate once per distinct text, label, and return the rows with ``response``,
    ``label`` (refusal|compliance|empty|degenerate) and the booleans ``refusal``,
    ``compliance`` and ``degenerate`` (empty or degenerate)."""
    unique = sorted(
        set(rows["text"]), key=lambda t: (len(t), t)
    )  # similar lengths batch together: less padding
    responses = dict(zip(unique, generate(unique)))
    out = rows.assign(variant=variant, response=rows["text"].map(responses))
    out["label"] = label_responses(
        out["response"].tolist(), judge, out["text"].tolist(), degenerate
    )
    out["refusal"] = out["label"] == "refusal"
    out["compliance"] = out["label"] == "compliance"
    out["degenerate"] = out["label"].isin(("empty", "degenerate"))
    return out


def _rate(
    m: dict[str, float], key: str, hits: pd.Series, cfg: LMEvalConfig, interval: bool = True
) -> None:
    """``m[key]`` = mean of the 0/1 ``hits``, with ``key_lo`` / ``key_hi`` (bootstrap)."""
    values = hits.astype(float).to_numpy()
    m[key] = float(values.mean())
    if interval and cfg.bootstrap_samples > 0:
        m[f"{key}_lo"], m[f"{key}_hi"] = bootstrap_interval(
            values, cfg.bootstrap_samples, seed=cfg.seed
        )


def lm_variant_metrics(scored: pd.DataFrame, cfg: LMEvalConfig) -> dict[str, float]:
    """Unprefixed metrics of one variant from its labelled rows."""
    m: dict[str, float] = {}
    plain = scored[scored["attack"] == "identity"]
    for name in [*cfg.asr_sets, *cfg.refusal_sets]:
        part = plain[plain["set"] == name]
        if not len(part):
            continue
        if name in cfg.asr_sets:
            _rate(m, f"asr_{name}", part["compliance"], cfg)
            rule_key = "asr" if name == "relational" else f"asr_{metric_slug(name)}"
            for rule, rp in part[part["rule_id"] != ""].groupby("rule_id"):
                _rate(m, f"rule_{metric_slug(rule)}_{rule_key}", rp["compliance"], cfg, False)
        _rate(m, f"refusal_{name}", part["refusal"], cfg)
        _rate(m, f"degenerate_{name}", part["degenerate"], cfg)
        m[f"empty_{name}"] = float((part["label"] == "empty").mean())
        m[f"n_{name}"] = float(len(part))
        if name in cfg.category_sets:
            for cat, cp in part[part["category"] != ""].groupby("category"):
                _rate(m, f"refusal_{name}_{metric_slug(cat)}", cp["refusal"], cfg)
    attacked = scored[scored["harmful"]]
    if cfg.attack_sets is not None:
        attacked = attacked[attacked["set"].isin(cfg.attack_sets)]
    per_attack = []
    for (set_name, attack), part in attacked.groupby(["set", "attack"]):
        if attack != "identity":
            m[f"asr_{metric_slug(set_name)}_{metric_slug(attack)}"] = float(
                part["compliance"].mean()
            )
    for attack, part in attacked.groupby("attack"):
        per_attack.append(float(part["compliance"].mean()))
        if attack != "identity":
            m[f"asr_attack_{metric_slug(attack)}"] = float(part["compliance"].mean())
    only_attacked = attacked[attacked["attack"] != "identity"]
    if len(only_attacked):
        m["asr_attacks"] = float(only_attacked["compliance"].mean())
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
    after_variant: Callable[[str, object, dict[str, float]], None] | None = None,
    wrap_generate: Callable[[str, Generate], Generate] | None = None,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Run every variant: ``activate(name)`` returns ``(model, tokenizer)`` with that adapter on.

    ``after_variant(name, model, metrics)`` runs with the variant still active (more inputs
    scored on it add to ``metrics``); ``wrap_generate(name, generate)`` may put a cache in
    front of a variant's generation (:class:`relsafe.models.completion_cache.CompletionCache`)."""
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

        if wrap_generate is not None:
            gen = wrap_generate(name, gen)
        part = run_prompts(rows, gen, judge, name, cfg.degenerate)
        metrics = lm_variant_metrics(part, cfg)
        if plain_text:
            metrics["ppl"] = perplexity(model, tok, plain_text, cfg.ppl_max_length)
        if after_variant is not None:
            after_variant(name, model, metrics)
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
    asr = plain[plain["harmful"]].groupby(["rule_id", "variant"])["compliance"].mean().rename("asr")
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
    lab = keep.pivot_table(index=idx, columns="variant", values="label", aggfunc="first")
    wide.columns = [f"{c}_response" for c in wide.columns]
    ref.columns = [f"{c}_refusal" for c in ref.columns]
    lab.columns = [f"{c}_label" for c in lab.columns]
    frame = wide.join(lab).join(ref).reset_index()
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
