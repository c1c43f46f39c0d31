"""Textual unlearning of a causal LM with LoRA (SmolLM2 by default; any HF causal LM).

Loss terms (``params:train_edit.causal_lm.terms``), each fed from its own pool of
``split == "train"`` rows and scored on a (chat-templated prompt, target) pair:

- ``forget``: NPO (default) or gradient ascent on the base model's own answers to harmful
  prompts (``lm_forget_set.completion``);
- ``refusal``: learn the ``refusal`` target on the same prompts;
- ``retain``: KL to the frozen base on benign prompts and benign relational contrasts
  (over the base's answer positions; at least the first answer token);
- a term with ``paired: <term>`` scores the safe minimal pairs of the rows that term draws,
  in the same step: the same prompt with the row's ``pair_text`` ("a child drinking juice")
  in place of its ``text`` ("a child drinking wine"), so the request's format and wording
  cannot be what tells refusal from compliance.

The frozen base is the same model with the adapter disabled, so no second copy is held.
Training sequences are right-padded (causal masking keeps padding out of the real tokens);
generation elsewhere uses left padding.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from relsafe.editing.adapter_io import AdapterBundle
from relsafe.editing.lm_hidden import HiddenPlan, capture, make_plan
from relsafe.editing.lm_losses import SeqScores
from relsafe.editing.lm_restyle import copy_block, copy_rng, rephrased
from relsafe.editing.losses import get_loss
from relsafe.editing.terms import options_of, parse_term_block, pick_rows
from relsafe.editing.trainer import MetricCallback, StepCallback, StepContext
from relsafe.models.causal_lm import chat_inputs

logger = logging.getLogger(__name__)

DEFAULT_LM_TERMS: dict[str, dict[str, Any]] = {
    "forget": {
        "loss": "lm_npo",
        "weight": 1.0,
        "data": "forget",
        "target": "completion",
        "beta": 0.1,
    },
    "refusal": {"loss": "lm_refusal", "weight": 1.0, "data": "forget", "target": "refusal"},
    "retain": {"loss": "lm_retain_kl", "weight": 1.0, "data": "retain", "target": "completion"},
}
#: Losses that need the frozen base: per-sequence log-probs, or logits at answer positions.
NEEDS_REF_LOGP = {"lm_npo"}
NEEDS_REF_LOGITS = {"lm_retain_kl"}
#: Representation losses: edited and frozen-base hidden states at the term's ``layers``, over
#: the user turn and the answer (the chat template's shared system prefix left out).
NEEDS_HIDDEN = {"lm_reroute", "lm_rmu", "lm_retain_hidden"}
#: Losses that can score a row whose target is empty (the first answer position only, or
#: the prompt's positions for representation losses).
ALLOWS_EMPTY = {"lm_retain_kl"} | NEEDS_HIDDEN


@dataclass
class LMTermSpec:
    name: str
    loss: str
    weight: float
    data: str  # forget | retain
    target: str  # completion | refusal
    sources: list[str] | None = None
    batch_size: int | None = None
    max_target_tokens: int | None = None  # None: causal_lm.max_target_tokens
    target_texts: list[str] | None = None  # fixed targets, in turn per row, instead of a column
    add_eos: bool = False
    layers: list[int | float] | None = None  # hidden-state layers of a representation loss
    paired: str | None = None  # score the safe minimal pairs of this term's rows, same step
    options: dict[str, Any] = field(default_factory=dict)


#: The term keys LMTermSpec reads itself; any other key is an option for the loss.
_TERM_KEYS = {f.name for f in fields(LMTermSpec)} - {"name", "options"}


def parse_lm_terms(
    block: Mapping[str, Any] | None, where: str = "train_edit.causal_lm.terms"
) -> list[LMTermSpec]:
    specs = parse_term_block(block, DEFAULT_LM_TERMS, where, _make_lm_spec)
    names = {s.name: s for s in specs}
    for spec in specs:
        if spec.paired is None:
            continue
        partner = names.get(spec.paired)
        if partner is None or partner.paired is not None:
            raise ValueError(
                f"{where}.{spec.name}.paired: {spec.paired!r} is not an unpaired term of "
                f"this block ({sorted(n for n, s in names.items() if s.paired is None)})"
            )
        if spec.loss not in ALLOWS_EMPTY:
            raise ValueError(
                f"{where}.{spec.name}: a paired term scores prompts without a target; its loss "
                f"must be one of {sorted(ALLOWS_EMPTY)}, not {spec.loss!r}"
            )
    return specs


def _make_lm_spec(name: str, raw: dict[str, Any], where: str) -> LMTermSpec:
    data = raw.get("data", "retain" if name == "retain" else "forget")
    target = raw.get("target", "refusal" if name == "refusal" else "completion")
    if data not in ("forget", "retain"):
        raise ValueError(f"{where}.{name}.data: {data!r}; expected 'forget' or 'retain'")
    if target not in ("completion", "refusal"):
        raise ValueError(f"{where}.{name}.target: {target!r}; expected 'completion' or 'refusal'")
    taken = sorted({"data", "target", "sources", "batch_size", "target_texts"} & set(raw))
    if raw.get("paired") and taken:
        raise ValueError(
            f"{where}.{name}: a paired term takes its rows from its partner; remove {taken}"
        )
    return LMTermSpec(
        name=name,
        loss=str(raw["loss"]),
        weight=float(raw.get("weight", 1.0)),
        data=data,
        target=target,
        sources=list(raw["sources"]) if raw.get("sources") else None,
        batch_size=int(raw["batch_size"]) if raw.get("batch_size") else None,
        max_target_tokens=(int(raw["max_target_tokens"]) if raw.get("max_target_tokens") else None),
        target_texts=_target_texts(raw.get("target_texts"), f"{where}.{name}"),
        add_eos=bool(raw.get("add_eos", target == "refusal")),
        layers=_term_layers(raw, str(raw["loss"]), f"{where}.{name}"),
        paired=str(raw["paired"]) if raw.get("paired") else None,
        options=options_of(raw, _TERM_KEYS),
    )


def _term_layers(raw: Mapping[str, Any], loss: str, where: str) -> list[int | float] | None:
    layers = raw.get("layers")
    if loss in NEEDS_HIDDEN and not layers:
        raise ValueError(f"{where}.layers: {loss} needs the hidden-state layers it reads")
    if layers is None:
        return None
    if isinstance(layers, (int, float)):
        layers = [layers]
    return list(layers)


def _target_texts(raw: Any, where: str) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str) or not all(isinstance(t, str) and t.strip() for t in raw):
        raise ValueError(f"{where}.target_texts: expected a list of non-empty strings; got {raw!r}")
    return list(raw) or None


def train_rows(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The ``split == "train"`` rows (every row when there is no split column)."""
    missing = [c for c in ("prompt",) if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; has {list(frame.columns)}")
    part = frame[frame["split"].astype(str) == "train"] if "split" in frame.columns else frame
    bad = part.index[part["prompt"].isna() | (part["prompt"].astype(str).str.strip() == "")]
    if len(bad):
        raise ValueError(f"{name}: empty prompt in row(s) {list(bad[:10])}")
    return part.reset_index(drop=True)


def augment_prompts(
    frame: pd.DataFrame,
    block: Mapping[str, Any] | None,
    seed: int,
    name: str,
    terms_key: str = "causal_lm",
) -> pd.DataFrame:
    """Append rows whose ``text`` (the realised tuple) is asked about in new phrasings.

    ``block`` is ``causal_lm.augment``: ``templates`` (with ``{t}``), ``copies`` and
    ``sources``. A relational forget row keeps its refusal target; a contrast retain row gets
    an empty completion (KL on the first answer token). The templates are the edit's own, so
    the held-out phrasings of the evaluation stay unseen.
    """
    templates, copies, block = copy_block(block, f"train_edit.{terms_key}.augment")
    bad = [t for t in templates if "{t}" not in t]
    if bad:
        raise ValueError(
            f"train_edit.{terms_key}.augment.templates: {bad} lack the {{t}} placeholder"
        )
    if not templates or not copies or "text" not in frame.columns:
        return frame
    sources = block.get("sources") or ["relational", "contrast"]
    base = frame[
        frame["source"].isin(sources) & frame["text"].fillna("").astype(str).str.strip().ne("")
    ]
    if base.empty:
        return frame
    rng = copy_rng(seed, name)
    extra = []
    for _ in range(copies):
        picks = rng.integers(0, len(templates), size=len(base))
        prompts = [
            templates[j].format(t=str(t).strip().rstrip(".")) for j, t in zip(picks, base["text"])
        ]
        extra.append(rephrased(base, prompts))
    return pd.concat([frame, *extra], ignore_index=True)


@dataclass
class _LMPool:
    prompt_ids: list[list[int]]
    target_ids: list[list[int]]
    ref_logp: torch.Tensor | None = None
    #: row -> the frozen base's top-k log-probs and token ids at its answer positions
    #: ([n_pos, k] each; ``causal_lm.ref_top_k``), filled the first time the row is drawn
    ref_top: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    skip: list[int] = field(default_factory=list)  # shared chat-template prefix per row
    plan: HiddenPlan | None = None  # shared by every pool (set before training)
    pair_of: list[int] | None = None  # paired pool: its row per partner-pool row (-1: none)

    def positions(self, i: int) -> slice:
        """Positions a representation loss reads: the user turn and the answer."""
        n = len(self.prompt_ids[i]) + len(self.target_ids[i])
        skip = self.skip[i] if self.skip else 0
        return slice(min(skip, n - 1), n)


def template_prefix(tok: PreTrainedTokenizerBase) -> list[int]:
    """Token ids every chat-templated prompt starts with (system turn, user header)."""
    a, b = chat_inputs(tok, ["x", "y"])
    ia, ib = (tok(t, add_special_tokens=False)["input_ids"] for t in (a, b))
    n = 0
    while n < min(len(ia), len(ib)) and ia[n] == ib[n]:
        n += 1
    return ia[:n]


def _encode_pool(
    tok: PreTrainedTokenizerBase,
    prompts: list[str],
    targets: list[str],
    add_eos: bool,
    max_prompt: int,
    max_target: int,
) -> _LMPool:
    rendered = chat_inputs(tok, prompts)
    p_ids = (
        [ids[-max_prompt:] for ids in tok(rendered, add_special_tokens=False)["input_ids"]]
        if rendered
        else []
    )
    eos = [tok.eos_token_id] if add_eos and tok.eos_token_id is not None else []
    t_ids = (
        [
            ids[:max_target] + eos if ids or eos else []
            for ids in tok(targets, add_special_tokens=False)["input_ids"]
        ]
        if targets
        else []
    )
    prefix = template_prefix(tok) if p_ids else []
    skip = [len(prefix) if ids[: len(prefix)] == prefix else 0 for ids in p_ids]
    return _LMPool(p_ids, [t[: max_target + len(eos)] for t in t_ids], skip=skip)


def build_lm_pools(
    tok: PreTrainedTokenizerBase,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    specs: list[LMTermSpec],
    block: Mapping[str, Any],
) -> dict[str, _LMPool]:
    max_prompt, max_target = (
        int(block.get("max_prompt_tokens", 128)),
        int(block.get("max_target_tokens", 48)),
    )
    pools, rows_of = {}, {}
    for spec in (s for s in specs if s.paired is None):
        frame = forget if spec.data == "forget" else retain
        if spec.sources:
            frame = (
                frame[frame["source"].isin(spec.sources)]
                if "source" in frame.columns
                else frame.iloc[:0]
            )
        targets = _term_targets(frame, spec)
        rows_of[spec.name] = frame.loc[targets.index]
        pools[spec.name] = _encode_pool(
            tok,
            rows_of[spec.name]["prompt"].astype(str).tolist(),
            targets.tolist(),
            spec.add_eos,
            max_prompt,
            spec.max_target_tokens or max_target,
        )
    for spec in (s for s in specs if s.paired is not None):
        prompts = pair_prompts(rows_of[spec.paired])
        have = [i for i, p in enumerate(prompts) if p]
        pools[spec.name] = _encode_pool(
            tok, [prompts[i] for i in have], [""] * len(have), False, max_prompt, 0
        )
        pair_of = [-1] * len(prompts)
        for j, i in enumerate(have):
            pair_of[i] = j
        pools[spec.name].pair_of = pair_of
        logger.info(
            "LM edit: term %r pairs %d of the %d rows of %r with their safe counterpart",
            spec.name,
            len(have),
            len(prompts),
            spec.paired,
        )
    for spec in specs:
        if not pools[spec.name].prompt_ids:
            logger.warning("LM edit: term %r has no rows; it is skipped", spec.name)
    return {s.name: pools[s.name] for s in specs}


def pair_prompts(rows: pd.DataFrame) -> list[str]:
    """Each row's prompt with its ``text`` replaced by its ``pair_text`` ("" when the row has
    no pair, or its prompt does not contain its text)."""
    if "pair_text" not in rows.columns or "text" not in rows.columns:
        return [""] * len(rows)
    out = []
    for prompt, text, pair in zip(
        rows["prompt"].astype(str), rows["text"].fillna(""), rows["pair_text"].fillna("")
    ):
        text, pair = str(text).strip().rstrip(". "), str(pair).strip().rstrip(". ")
        out.append(prompt.replace(text, pair, 1) if text and pair and text in prompt else "")
    return out


def _term_targets(frame: pd.DataFrame, spec: LMTermSpec) -> pd.Series:
    """The target text per row (index = the rows used): ``target_texts`` dealt in turn, or
    the ``target`` column, without the empty ones unless the loss scores empty targets."""
    if spec.target_texts:
        texts = spec.target_texts
        return pd.Series([texts[i % len(texts)] for i in range(len(frame))], index=frame.index)
    col = spec.target
    if col not in frame.columns:
        raise ValueError(
            f"lm_{spec.data}_set: term {spec.name!r} needs column {col!r}; has {list(frame.columns)}"
        )
    targets = frame[col].fillna("").astype(str)
    empty = targets.str.strip() == ""
    if empty.any() and spec.loss not in ALLOWS_EMPTY:
        logger.info(
            "LM edit: term %r uses %d of %d %s rows (%d have an empty %s)",
            spec.name,
            int((~empty).sum()),
            len(frame),
            spec.data,
            int(empty.sum()),
            col,
        )
        targets = targets[~empty]
    return targets


@dataclass
class _Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    starts: list[int]  # first target position per row
    lengths: list[int]  # target tokens per row


def collate(pairs: list[tuple[list[int], list[int]]], pad_id: int, device: torch.device) -> _Batch:
    """Right-padded prompt+target sequences."""
    seqs = [p + t for p, t in pairs]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return _Batch(
        ids.to(device), mask.to(device), [len(p) for p, _ in pairs], [len(t) for _, t in pairs]
    )


def _answer_positions(batch: _Batch, rows: range) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, position) of the logits that predict each target token (>= 1 per row)."""
    r, p = [], []
    for i in rows:
        n = max(batch.lengths[i], 1)
        r.extend([i] * n)
        p.extend(range(batch.starts[i] - 1, batch.starts[i] - 1 + n))
    return torch.tensor(r, dtype=torch.long), torch.tensor(p, dtype=torch.long)


#: Config attributes that change logits after the output head; such models take the slow path.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


def _decoder_and_head(model: torch.nn.Module):
    """The decoder stack and output head of a (peft-wrapped) HF causal LM, or None.

    None (use the full ``.logits``) for DDP-wrapped models, whose gradient sync needs their
    own forward, and for models that transform logits after the head.
    """
    if hasattr(model, "module"):
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    get_decoder = getattr(base, "get_decoder", None)
    get_head = getattr(base, "get_output_embeddings", None)
    if get_decoder is None or get_head is None:
        return None
    config = getattr(base, "config", None)
    configs = [config, getattr(config, "text_config", None)]  # a VLM's language model config
    if any(getattr(c, a, None) not in (None, 1, 1.0) for c in configs for a in _LOGIT_TRANSFORMS):
        return None
    decoder, head = get_decoder(), get_head()
    return (decoder, head) if decoder is not None and head is not None else None


def answer_logits(
    model: torch.nn.Module,
    batch: _Batch,
    plan: HiddenPlan | None = None,
    lowers: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Logits at every row's answer positions, rows in order: ``[sum(max(len, 1)), vocab]``.

    The output head runs only at those positions (a few dozen per row instead of the whole
    sequence): on a 49k-token vocabulary this is most of the memory traffic of a step.
    With ``plan`` and ``lowers`` (each row's cached frozen-layer output), only the layers
    from ``plan.start`` up run.
    """
    r, p = _answer_positions(batch, range(len(batch.starts)))
    parts = _decoder_and_head(model)
    if parts is None:
        logits = model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
        ).logits
        return logits[r.to(logits.device), p.to(logits.device)]
    decoder, head = parts
    if plan is not None and lowers is not None and plan.caches_lower:
        hidden = plan.upper_hidden(lowers, batch.attention_mask)
    else:
        hidden = decoder(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
        ).last_hidden_state
    return head(hidden[r.to(hidden.device), p.to(hidden.device)])


def _row_offsets(batch: _Batch) -> list[int]:
    offsets, at = [], 0
    for n in batch.lengths:
        offsets.append(at)
        at += max(n, 1)
    return offsets + [at]


def sequence_logp(
    flat_logits: torch.Tensor, batch: _Batch, rows: range
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed log-prob of each row's target tokens, the token counts, and the flat
    per-token log-probs (losses that weigh the first answer tokens use them).

    ``flat_logits`` comes from :func:`answer_logits` (every row's answer positions).
    """
    offsets = _row_offsets(batch)
    out, counts, tokens = [], [], []
    for i in rows:
        n, s, o = batch.lengths[i], batch.starts[i], offsets[i]
        if n == 0:
            out.append(flat_logits.new_zeros((), dtype=torch.float32))
        else:
            lp = torch.log_softmax(flat_logits[o : o + n].float(), dim=-1)
            tok_lp = lp.gather(-1, batch.input_ids[i, s : s + n].unsqueeze(-1)).squeeze(-1)
            out.append(tok_lp.sum())
            tokens.append(tok_lp)
        counts.append(n)
    flat = torch.cat(tokens) if tokens else flat_logits.new_zeros(0, dtype=torch.float32)
    counts_t = torch.tensor(counts, device=flat_logits.device, dtype=torch.float32)
    return torch.stack(out), counts_t, flat


def _rows_slice(batch: _Batch, rows: range) -> slice:
    offsets = _row_offsets(batch)
    return slice(offsets[rows.start], offsets[rows.stop])


def _sub_batch(batch: _Batch, rows: list[int]) -> _Batch:
    return _Batch(
        batch.input_ids[rows],
        batch.attention_mask[rows],
        [batch.starts[i] for i in rows],
        [batch.lengths[i] for i in rows],
    )


def _peft(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


@torch.no_grad()
def fill_reference_logps(
    model: torch.nn.Module,
    pool: _LMPool,
    term: str,
    idx: Any,
    pad_id: int,
    device: torch.device,
) -> None:
    """Frozen-base log-probs of the pool rows ``idx`` that lack one, one row at a time (so a
    row's value does not depend on the step that first drew it), at the precision of the
    surrounding autocast and through the steps' own path: NPO starts at a zero log-ratio.
    Only drawn rows are scored: a short run does not pay for the whole pool up front."""
    if pool.ref_logp is None:
        pool.ref_logp = torch.full((len(pool.prompt_ids),), float("nan"))
    plan = pool.plan if pool.plan is not None and pool.plan.caches_lower else None
    for i in (int(i) for i in idx):
        if not torch.isnan(pool.ref_logp[i]):
            continue
        batch = collate([(pool.prompt_ids[i], pool.target_ids[i])], pad_id, device)
        lowers = [_row_hidden(model, pool, term, i).lower] if plan is not None else None
        with _peft(model).disable_adapter():
            logits = answer_logits(model, batch, plan, lowers)
        pool.ref_logp[i] = sequence_logp(logits, batch, range(1))[0][0].float().cpu()


def _row_ids(pool: _LMPool, i: int) -> tuple[list[int], slice]:
    return pool.prompt_ids[i] + pool.target_ids[i], pool.positions(i)


def _row_hidden(model: torch.nn.Module, pool: _LMPool, term: str, i: int):
    return pool.plan.row(model, term, i, *_row_ids(pool, i))


def prepare_hidden(
    model: torch.nn.Module,
    pools: dict[str, _LMPool],
    specs: list[LMTermSpec],
    block: Mapping[str, Any],
    pad_id: int,
) -> HiddenPlan | None:
    """The hidden-state plan shared by every pool (see :mod:`relsafe.editing.lm_hidden`),
    after checking on two rows that the upper-stack pass reproduces the full forward."""
    ref_layers = {s.name: s.layers for s in specs if s.loss in NEEDS_HIDDEN and s.layers}
    plan = make_plan(_peft(model), ref_layers, bool(block.get("cache_lower_layers", True)))
    restartable = _decoder_and_head(model) is not None
    if plan is not None and plan.caches_lower and restartable and block.get("share_prefix", True):
        plan.prefix = shared_prefix(pools, plan)
    if plan is not None and plan.prefix and not _prefix_pass_matches(model, pools, plan, pad_id):
        logger.warning(
            "LM edit: running the shared %d-token prefix once does not reproduce this "
            "model's forward; every row runs it",
            plan.prefix,
        )
        plan.prefix = 0
    # a shared-prefix pass that matched has checked the lower cache too: no second check
    if (
        plan is not None
        and plan.caches_lower
        and not plan.prefix
        and (not restartable or not _upper_pass_matches(model, pools, plan, pad_id))
    ):
        logger.warning(
            "LM edit: this model's decoder cannot restart at layer %d from cached states; "
            "the frozen lower layers run every step",
            plan.start,
        )
        plan.start, plan.prefix = 0, 0
        plan.rows.clear()
        plan = plan if plan.ref_layers else None
    for pool in pools.values():
        pool.plan = plan
    if plan is not None and plan.caches_lower:
        logger.info(
            "LM edit: layers 0..%d are frozen; their outputs are computed once per row%s",
            plan.start - 1,
            f"; the shared {plan.prefix}-token prefix runs once per pass" if plan.prefix else "",
        )
    return plan


def shared_prefix(pools: dict[str, _LMPool], plan: HiddenPlan) -> int:
    """Tokens every row of every pool starts with (the chat template's system turn and user
    header), or 0: off when a row lacks it or a representation loss reads hidden states
    (its hooks see one pass per layer)."""
    skips = [k for pool in pools.values() for k in pool.skip]
    if plan.ref_layers or not skips or min(skips) != max(skips):
        return 0
    return skips[0]


def _prefix_pass_matches(
    model: torch.nn.Module, pools: dict[str, _LMPool], plan: HiddenPlan, pad_id: int
) -> bool:
    """The start-up check of the shared-prefix pass; a decoder that rejects a key / value
    cache over a subset of its layers fails it rather than the edit."""
    try:
        return _upper_pass_matches(model, pools, plan, pad_id)
    except (TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
        logger.info("LM edit: shared-prefix pass failed its check: %s", err)
        plan.rows.clear()
        return False


@torch.no_grad()
def _upper_pass_matches(
    model: torch.nn.Module, pools: dict[str, _LMPool], plan: HiddenPlan, pad_id: int
) -> bool:
    pool = next((p for p in pools.values() if len(p.prompt_ids) >= 1), None)
    if pool is None:
        return True
    idx = list(range(min(2, len(pool.prompt_ids))))
    device = next(model.parameters()).device
    batch = collate([(pool.prompt_ids[i], pool.target_ids[i]) for i in idx], pad_id, device)
    full = answer_logits(model, batch)
    lowers = [
        plan.row(model, "_check", i, pool.prompt_ids[i] + pool.target_ids[i], slice(0, 0)).lower
        for i in idx
    ]
    fast = answer_logits(model, batch, plan, lowers)
    plan.rows.clear()
    scale = float(full.abs().max()) + 1.0
    return bool(fast.shape == full.shape and float((fast - full).abs().max()) <= 1e-3 * scale)


@torch.no_grad()
def fill_reference_top(
    model: torch.nn.Module,
    batch: _Batch,
    need: list[tuple[_LMPool, int, int]],
    top_k: int,
    plan: HiddenPlan | None,
    lowers: list[torch.Tensor] | None,
) -> None:
    """Keep the frozen base's top-``top_k`` answer-position log-probs of rows drawn for the
    first time (``need``: pool, pool row, batch row), from one pass over those rows.

    The base is frozen, so its distribution at a row's answer positions never changes: a
    KL term can read the kept top-k instead of running the base over every KL row each step
    (6% of the default edit's CPU time at k = 64). The KL is then computed over the top-k
    tokens plus one bucket for the rest of the vocabulary
    (:func:`relsafe.editing.lm_losses.lm_retain_kl`).
    """
    if not need:
        return
    rows = [r for _, _, r in need]
    sub = _sub_batch(batch, rows)
    with _peft(model).disable_adapter():
        logits = answer_logits(model, sub, plan, [lowers[r] for r in rows] if lowers else None)
    logp = torch.log_softmax(logits.float(), dim=-1)
    values, ids = logp.topk(min(top_k, logp.shape[-1]), dim=-1)
    offsets = _row_offsets(sub)
    for j, (pool, i, _) in enumerate(need):
        part = slice(offsets[j], offsets[j + 1])
        pool.ref_top[i] = (values[part].cpu(), ids[part].to(torch.int32).cpu())


def make_lm_compute_terms(
    pools: dict[str, _LMPool],
    specs: list[LMTermSpec],
    batch_size: int,
    pad_id: int,
    ref_top_k: int | None = None,
):
    """The step's loss terms. ``ref_top_k`` (``causal_lm.ref_top_k``): KL terms read the
    frozen base's top-k log-probs kept per row (:func:`fill_reference_top`) instead of a
    base pass over their rows every step; None: the full distribution, every step."""
    losses = {s.name: get_loss(s.loss) for s in specs}

    def compute(model: torch.nn.Module, ctx: StepContext) -> dict[str, torch.Tensor]:
        plan = next((p.plan for p in pools.values() if p.plan is not None), None)
        pairs, picks, entries = [], [], []
        sizes = {s.name: len(pools[s.name].prompt_ids) for s in specs}
        drawn = {
            spec.name: idx
            for spec, idx in pick_rows(specs, sizes, ctx.weights, ctx.rng, batch_size)
        }
        for spec in specs:  # a paired term scores the pairs of its partner's rows
            if spec.paired and spec.name in ctx.weights and spec.paired in drawn:
                pair_of = pools[spec.name].pair_of or []
                idx = np.array([pair_of[i] for i in drawn[spec.paired] if pair_of[i] >= 0])
                if len(idx):
                    drawn[spec.name] = idx
        kept = [  # terms whose rows have kept hidden states, in spec order (batch order)
            s.name
            for s in specs
            if s.name in drawn
            and plan is not None
            and (plan.caches_lower or s.name in plan.ref_layers)
        ]
        if kept:  # rows drawn for the first time: one batched base pass
            plan.fill(
                model,
                [
                    (name, int(i), *_row_ids(pools[name], int(i)))
                    for name in kept
                    for i in drawn[name]
                ],
            )
        for spec in (s for s in specs if s.name in drawn):
            idx = drawn[spec.name]
            pool, n = pools[spec.name], len(idx)
            picks.append((spec, idx, range(len(pairs), len(pairs) + n)))
            pairs.extend((pool.prompt_ids[i], pool.target_ids[i]) for i in idx)
            if spec.name in kept:
                entries.extend(_row_hidden(model, pool, spec.name, int(i)) for i in idx)
            else:
                entries.extend([None] * n)
        for spec, idx, _ in picks:
            if spec.loss in NEEDS_REF_LOGP:
                fill_reference_logps(model, pools[spec.name], spec.name, idx, pad_id, ctx.device)
        batch = collate(pairs, pad_id, ctx.device)
        fast = plan is not None and plan.caches_lower
        lowers = [e.lower for e in entries] if fast else None
        read = sorted(
            {
                i
                for spec, _, _ in picks
                for i in (plan.ref_layers.get(spec.name, []) if plan else [])
            }
        )
        with capture(plan.layers, read) if read else contextlib.nullcontext({}) as got:
            logits = answer_logits(model, batch, plan if fast else None, lowers)
        ref_rows = [i for spec, _, rows in picks if spec.loss in NEEDS_REF_LOGITS for i in rows]
        ref_logits, ref_batch = None, None
        if ref_rows and ref_top_k:
            need = [
                (pools[spec.name], int(i), r)
                for spec, idx, rows in picks
                if spec.loss in NEEDS_REF_LOGITS
                for i, r in zip(idx, rows)
                if int(i) not in pools[spec.name].ref_top
            ]
            fill_reference_top(
                model, batch, need, ref_top_k, plan if fast else None, lowers if fast else None
            )
        elif ref_rows:  # ref rows are contiguous per term, in batch order
            ref_batch = _sub_batch(batch, ref_rows)
            with torch.no_grad(), _peft(model).disable_adapter():
                ref_logits = answer_logits(
                    model,
                    ref_batch,
                    plan if fast else None,
                    [lowers[i] for i in ref_rows] if fast else None,
                )
        out = {}
        for spec, idx, rows in picks:
            logp, counts, token_logp = sequence_logp(logits, batch, rows)
            scores = SeqScores(logp=logp, n_tokens=counts, token_logp=token_logp)
            if spec.loss in NEEDS_REF_LOGP:
                scores.ref_logp = pools[spec.name].ref_logp[idx].to(logp.device)
            if spec.loss in NEEDS_REF_LOGITS:
                scores.logits = logits[_rows_slice(batch, rows)]
                if ref_top_k:
                    kept_top = [pools[spec.name].ref_top[int(i)] for i in idx]
                    scores.ref_top_logp = torch.cat([v for v, _ in kept_top]).to(logits.device)
                    scores.ref_top_ids = (
                        torch.cat([t for _, t in kept_top]).long().to(logits.device)
                    )
                else:
                    local = range(
                        ref_rows.index(rows.start), ref_rows.index(rows.start) + len(rows)
                    )
                    scores.ref_logits = ref_logits[_rows_slice(ref_batch, local)]
            if spec.loss in NEEDS_HIDDEN:
                pool, layers = pools[spec.name], plan.ref_layers[spec.name]
                scores.hidden = torch.cat(
                    [
                        torch.stack([got[k][r, pool.positions(int(i))] for k in layers])
                        for r, i in zip(rows, idx)
                    ],
                    dim=1,
                )
                scores.ref_hidden = torch.cat([entries[r].ref for r in rows], dim=1).to(
                    scores.hidden.device
                )
            out[spec.name] = losses[spec.name](scores, **spec.options)
        return out

    return compute


def train_lm_edit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    params: Mapping[str, Any],
    manifest: dict,
    on_metrics: MetricCallback | None = None,
    on_step: StepCallback | None = None,
    checkpoint_name: str = "edit",
    desc: str = "LoRA edit (causal LM)",
) -> tuple[AdapterBundle, pd.DataFrame]:
    """Train a LoRA adapter for textual unlearning; returns the adapter and the history.

    ``forget`` / ``retain`` are ``lm_forget_set`` / ``lm_retain_set``; only their
    ``split == "train"`` rows are used. The shared path is
    :func:`relsafe.editing.edit.train_family_edit`.
    """
    from relsafe.editing.edit import train_family_edit
    from relsafe.families import get_family

    return train_family_edit(
        get_family("causal_lm"),
        (model, tokenizer),
        forget,
        retain,
        params,
        manifest,
        on_metrics=on_metrics,
        on_step=on_step,
        checkpoint_name=checkpoint_name,
        desc=desc,
    )
