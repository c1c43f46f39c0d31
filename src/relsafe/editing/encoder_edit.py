"""Relationship-aware LoRA edit of a text encoder (MiniLM, CLIP text tower, any HF encoder).

Loss terms, each named, weighted and fed from its own pool of rows (``params:train_edit.
encoder.terms``):

- ``forget``: unsafe texts leave their base embedding and move toward their safe
  ``redirect`` (default loss ``encoder_forget_gallery``: each one's own base entry must drop
  out of its top-k in a gallery of every training text, the retrieval metric itself);
- ``retain``: neighbours that share the subject / object / relation and general captions
  stay where the frozen base puts them;
- ``counterpart``: the safe redirects themselves stay put;
- ``marginal``: subject and object phrases alone ("a child", "a glass of wine") stay too.

``augment`` wraps rows in the edit's own scene templates so that the edit survives long
contexts. Base embeddings are computed once, before LoRA is added; the model trains in eval
mode (no dropout), so an untouched text keeps exactly its base embedding.
"""

from __future__ import annotations

import inspect
import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from relsafe.editing.adapter_io import AdapterBundle
from relsafe.editing.edit import NON_SEMANTIC  # noqa: F401  (re-exported)
from relsafe.editing.losses import get_loss
from relsafe.editing.terms import options_of, parse_term_block, pick_rows
from relsafe.editing.trainer import MetricCallback, StepCallback, StepContext
from relsafe.models.encoders import TextEncoder

logger = logging.getLogger(__name__)

#: Used when ``train_edit.encoder.terms`` is absent.
DEFAULT_TERMS: dict[str, dict[str, Any]] = {
    "forget": {"loss": "encoder_forget", "weight": 1.0, "data": "forget"},
    "retain": {
        "loss": "encoder_retain",
        "weight": 1.0,
        "data": "retain",
        "kinds": ["general", "same_"],
    },
    "marginal": {"loss": "encoder_retain", "weight": 1.0, "data": "retain", "kinds": ["marginal_"]},
}
DATA_SOURCES = ("forget", "retain", "redirect")
_TERM_KEYS = {"loss", "weight", "data", "kinds", "batch_size", "perturb", "perturb_mode"}
PERTURB_MODES = ("random", "adversarial")


@dataclass
class TermSpec:
    """One loss term: which loss, its weight, which rows feed it, and the loss options."""

    name: str
    loss: str
    weight: float
    data: str  # "forget" | "retain" | "redirect" (the forget rows' safe redirects, kept in place)
    kinds: list[str] | None = None  # retain kinds (prefixes: "same_" = all neighbours); None = all
    batch_size: int | None = None
    perturb: float = 0.0  # per-token input-embedding perturbation, relative to the token's norm
    perturb_mode: str = "adversarial"  # or "random"; adversarial: one ascent step (AdvUnlearn)
    options: dict[str, Any] = field(default_factory=dict)


def parse_terms(
    block: Mapping[str, Any] | None, where: str = "train_edit.encoder.terms"
) -> list[TermSpec]:
    """Term specs in a stable (sorted) order."""
    return parse_term_block(block, DEFAULT_TERMS, where, _make_spec)


def _make_spec(name: str, raw: dict[str, Any], where: str) -> TermSpec:
    data = raw.get("data", "forget" if name == "forget" else "retain")
    if data not in DATA_SOURCES:
        raise ValueError(f"{where}.{name}.data: {data!r}; expected one of {DATA_SOURCES}")
    kinds = raw.get("kinds")
    mode = str(raw.get("perturb_mode", "adversarial"))
    if mode not in PERTURB_MODES:
        raise ValueError(f"{where}.{name}.perturb_mode: {mode!r}; expected one of {PERTURB_MODES}")
    if float(raw.get("perturb", 0.0)) < 0:
        raise ValueError(f"{where}.{name}.perturb: {raw['perturb']}; expected >= 0")
    return TermSpec(
        name=name,
        loss=str(raw["loss"]),
        weight=float(raw.get("weight", 1.0)),
        data=data,
        kinds=list(kinds) if kinds else None,
        batch_size=int(raw["batch_size"]) if raw.get("batch_size") else None,
        perturb=float(raw.get("perturb", 0.0)),
        perturb_mode=mode,
        options=options_of(raw, _TERM_KEYS),
    )


def check_columns(frame: pd.DataFrame, needed: list[str], name: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; has {list(frame.columns)}")
    for col in needed:
        bad = frame.index[frame[col].isna() | (frame[col].astype(str).str.strip() == "")]
        if len(bad):
            raise ValueError(f"{name}: column {col!r} is empty in row(s) {list(bad[:10])}")


def _kind_mask(kinds: pd.Series, wanted: list[str] | None) -> np.ndarray:
    if not wanted:
        return np.ones(len(kinds), dtype=bool)
    k = kinds.astype(str)
    masks = [((k == w) | (k.str.startswith(w) & w.endswith("_"))).to_numpy() for w in wanted]
    return np.logical_or.reduce(masks)


@dataclass
class _Pool:
    texts: list[str]
    base: torch.Tensor
    redirect: torch.Tensor | None = None
    own: torch.Tensor | None = None  # row -> its entry in the gallery
    group: torch.Tensor | None = None  # row -> its rule index (forget rows; region losses)


@dataclass
class Augment:
    """Extra training rows: each row of the listed terms wrapped in random scene templates.

    Captions in the wild put the tuple inside longer scenes; mean pooling dilutes a short
    edit there. The templates are the edit's own (never the evaluation's scenes).
    """

    contexts: list[str] = field(default_factory=list)
    copies: int = 0
    terms: list[str] = field(default_factory=lambda: ["forget", "retain"])

    @classmethod
    def from_params(cls, block: Mapping[str, Any] | None) -> Augment:
        block = dict(block or {})
        unknown = sorted(set(block) - {"contexts", "copies", "terms"})
        if unknown:
            raise ValueError(
                f"train_edit.encoder.augment: unknown key(s) {unknown}; expected contexts, copies, terms"
            )
        aug = cls(**block)
        bad = [c for c in aug.contexts if "{t}" not in c]
        if bad:
            raise ValueError(
                f"train_edit.encoder.augment.contexts: {bad} lack the {{t}} placeholder"
            )
        return aug

    def apply(
        self, name: str, texts: list[str], redirects: list[str] | None, seed: int
    ) -> tuple[list[str], list[str] | None]:
        if not self.copies or not self.contexts or name not in self.terms:
            return texts, redirects
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        out_t, out_r = list(texts), list(redirects) if redirects is not None else None
        for _ in range(self.copies):
            picks = rng.integers(0, len(self.contexts), size=len(texts))
            out_t += [self.contexts[j].format(t=t) for j, t in zip(picks, texts)]
            if out_r is not None:
                out_r += [self.contexts[j].format(t=r) for j, r in zip(picks, redirects)]
        return out_t, out_r


def build_pools(
    encoder: TextEncoder,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    specs: list[TermSpec],
    augment: Augment | None = None,
    seed: int = 0,
) -> dict[str, _Pool]:
    """Texts and frozen-base targets per term (embedded once, before LoRA is added).

    Losses that take a ``gallery`` also get every training text's base embedding (the
    retrieval gallery of :func:`relsafe.editing.losses.encoder_forget_gallery`).
    """
    augment = augment or Augment()
    pools: dict[str, _Pool] = {}
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> torch.Tensor:
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo:
            cache.update(zip(todo, encoder.encode(todo)))
        return (
            torch.from_numpy(np.stack([cache[t] for t in texts]))
            if texts
            else torch.zeros(0, encoder.embedding_dim)
        )

    rule_index = {
        r: i
        for i, r in enumerate(
            sorted(set(forget["rule_id"].astype(str))) if "rule_id" in forget else []
        )
    }
    forget_groups = (
        [rule_index[str(r)] for r in forget["rule_id"]] if rule_index else [0] * len(forget)
    )
    unsafe_group: dict[str, int] = {}
    for spec in specs:
        if spec.data == "forget":
            texts, red = (
                forget["text"].astype(str).tolist(),
                forget["redirect"].astype(str).tolist(),
            )
            n = len(texts)
            texts, red = augment.apply(spec.name, texts, red, seed)
            groups = [forget_groups[i % n] for i in range(len(texts))]
            unsafe_group.update(zip(texts, groups))
            pools[spec.name] = _Pool(
                texts, embed(texts), embed(red), group=torch.tensor(groups, dtype=torch.long)
            )
        elif spec.data == "redirect":
            texts = list(dict.fromkeys(forget["redirect"].astype(str)))
            texts, _ = augment.apply(spec.name, texts, None, seed)
            pools[spec.name] = _Pool(texts, embed(texts))
        else:
            part = retain[_kind_mask(retain["kind"], spec.kinds)]
            texts, _ = augment.apply(spec.name, part["text"].astype(str).tolist(), None, seed)
            pools[spec.name] = _Pool(texts, embed(texts))
        if not pools[spec.name].texts:
            logger.warning(
                "encoder edit: term %r has no rows (kinds %s); it is skipped", spec.name, spec.kinds
            )
    if any(_takes_gallery(s.loss) for s in specs):
        names = list(cache)
        index = {t: i for i, t in enumerate(names)}
        gallery = torch.from_numpy(np.stack([cache[t] for t in names]))
        gallery_group = torch.tensor([unsafe_group.get(t, -1) for t in names], dtype=torch.long)
        for spec in specs:
            if _takes_gallery(spec.loss):
                pool = pools[spec.name]
                pool.own = torch.tensor([index[t] for t in pool.texts], dtype=torch.long)
                spec.options = {**spec.options, "gallery": gallery}
                if "gallery_group" in _loss_params(spec.loss):
                    spec.options["gallery_group"] = gallery_group
    return pools


def _loss_params(loss: str) -> set[str]:
    return set(inspect.signature(get_loss(loss)).parameters)


def _takes_gallery(loss: str) -> bool:
    return "gallery" in _loss_params(loss)


def embed_bucketed(model: torch.nn.Module, texts: list[str], bucket: int) -> torch.Tensor:
    """Embed texts in length-sorted chunks of ``bucket`` (less padding), in the input order.

    Mean pooling ignores padding, so this only saves time; ``bucket <= 0`` is one pass.
    """
    if bucket <= 0 or len(texts) <= bucket:
        return model(texts)
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    parts = [model([texts[i] for i in order[j : j + bucket]]) for j in range(0, len(order), bucket)]
    emb = torch.cat(parts)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return emb[inverse.to(emb.device)]


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The TextEncoder under a DDP wrapper, if any."""
    return getattr(model, "module", model)


def _input_embeddings(model: torch.nn.Module) -> torch.nn.Module:
    return _unwrap(model).model.get_input_embeddings()  # a TextEncoder wraps the transformer


class _Perturbation:
    """Adds ``delta`` to the input token embeddings while active (a forward hook).

    ``delta`` is created on the first forward, shaped like that batch's token embeddings:
    zeros that require grad (to find the ascent direction), or given noise.
    """

    def __init__(self, layer: torch.nn.Module, delta: torch.Tensor | None = None) -> None:
        self.delta = delta
        self.handle = layer.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        if self.delta is None:
            self.delta = torch.zeros_like(output, requires_grad=True)
        return output + self.delta.to(output.dtype)

    def remove(self) -> None:
        self.handle.remove()


def _token_norm(layer: torch.nn.Module, model: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    """L2 norm of each token's input embedding, ``[batch, tokens, 1]``."""
    with torch.no_grad():
        ids = _unwrap(model).tokenize(texts)["input_ids"]
        return layer(ids).float().norm(dim=-1, keepdim=True)


def embed_perturbed(
    model: torch.nn.Module,
    texts: list[str],
    spec: TermSpec,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    gen: torch.Generator,
) -> torch.Tensor:
    """Embed ``texts`` with each token embedding moved by ``spec.perturb`` x its own norm.

    ``adversarial``: one normalised ascent step on the term's own loss, as in AdvUnlearn's
    embedding-space attack, so the term holds in a neighbourhood of each text (nearby
    wordings), not only at the string; ``random``: Gaussian noise of the same size.
    """
    layer = _input_embeddings(model)
    norm = _token_norm(layer, model, texts)
    if spec.perturb_mode == "adversarial":
        probe = _Perturbation(layer)
        try:
            grad = torch.autograd.grad(loss_of(model(texts)), probe.delta)[0]
        finally:
            probe.remove()
        direction = grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    else:
        noise = torch.randn(norm.shape[:-1] + (layer.weight.shape[1],), generator=gen)
        direction = (noise / noise.norm(dim=-1, keepdim=True)).to(norm.device)
    hook = _Perturbation(layer, (spec.perturb * norm * direction).detach())
    try:
        return model(texts)
    finally:
        hook.remove()


def make_compute_terms(
    pools: dict[str, _Pool], specs: list[TermSpec], batch_size: int, bucket: int = 0
):
    """The per-step closure: sample each term's batch, embed the texts, score each term."""
    losses = {s.name: get_loss(s.loss) for s in specs}
    takes_group = {s.name for s in specs if "group" in _loss_params(s.loss)}
    placed: dict[tuple[str, str], dict[str, Any]] = {}

    def options(spec: TermSpec, device: torch.device) -> dict[str, Any]:
        key = (spec.name, str(device))
        if key not in placed:  # tensors among the options (the gallery) move to the device once
            placed[key] = {
                k: v.to(device) if isinstance(v, torch.Tensor) else v
                for k, v in spec.options.items()
            }
        return placed[key]

    def score(spec: TermSpec, idx: np.ndarray, part: torch.Tensor) -> torch.Tensor:
        pool = pools[spec.name]
        base = pool.base[idx].to(part.device)
        extra = {"own": pool.own[idx].to(part.device)} if pool.own is not None else {}
        if pool.group is not None and spec.name in takes_group:
            extra["group"] = pool.group[idx].to(part.device)
        if pool.redirect is not None:
            extra["redirect"] = pool.redirect[idx].to(part.device)
        return losses[spec.name](part, base, **extra, **options(spec, part.device))

    def compute(model: torch.nn.Module, ctx: StepContext) -> dict[str, torch.Tensor]:
        picks: list[tuple[TermSpec, np.ndarray]] = []
        texts: list[str] = []
        perturbed: list[tuple[TermSpec, np.ndarray]] = []
        sizes = {s.name: len(pools[s.name].texts) for s in specs}
        for spec, idx in pick_rows(specs, sizes, ctx.weights, ctx.rng, batch_size):
            pool = pools[spec.name]
            if spec.perturb > 0:
                perturbed.append((spec, idx))
                continue
            picks.append((spec, idx))
            texts.extend(pool.texts[i] for i in idx)
        out, start = {}, 0
        if texts:
            emb = embed_bucketed(model, texts, bucket)
            for spec, idx in picks:
                out[spec.name] = score(spec, idx, emb[start : start + len(idx)])
                start += len(idx)
        for spec, idx in perturbed:  # each in its own forward: the hook perturbs all its tokens
            gen = torch.Generator().manual_seed(int(ctx.rng.integers(2**31)))
            part = embed_perturbed(
                model,
                [pools[spec.name].texts[i] for i in idx],
                spec,
                lambda e, spec=spec, idx=idx: score(spec, idx, e),
                gen,
            )
            out[spec.name] = score(spec, idx, part)
        return out

    return compute


def train_encoder_edit(
    encoder: TextEncoder,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    params: Mapping[str, Any],
    manifest: dict,
    on_metrics: MetricCallback | None = None,
    on_step: StepCallback | None = None,
    checkpoint_name: str = "edit",
    desc: str = "LoRA edit (encoder)",
) -> tuple[AdapterBundle, pd.DataFrame]:
    """Train a LoRA adapter on ``encoder``; returns the adapter and the per-step history.

    ``params`` is ``params:train_edit`` (trainer keys at the top, terms under ``encoder``);
    ``manifest`` holds the base/policy hashes and is completed here. The shared path is
    :func:`relsafe.editing.edit.train_family_edit`.
    """
    from relsafe.editing.edit import train_family_edit
    from relsafe.families import get_family

    return train_family_edit(
        get_family("encoder"),
        encoder,
        forget,
        retain,
        params,
        manifest,
        on_metrics=on_metrics,
        on_step=on_step,
        checkpoint_name=checkpoint_name,
        desc=desc,
    )
