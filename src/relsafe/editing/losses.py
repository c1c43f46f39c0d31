"""Named loss terms. Add one with ``@register_loss("name")``; pick it in params.

Each term block in ``params:train_edit`` names a loss and a weight, and any other keys
are passed to the loss as keyword options::

    terms:
      forget: {loss: encoder_forget, weight: 1.0, margin: 0.3}

Encoder losses take unit embeddings ``[batch, dim]``; the causal-LM ones live in
:mod:`relsafe.editing.lm_losses` and register here too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

LossFn = Callable[..., torch.Tensor]
LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def deco(fn: LossFn) -> LossFn:
        LOSSES[name] = fn
        return fn

    return deco


def get_loss(name: str) -> LossFn:
    if name not in LOSSES:
        import relsafe.editing.lm_losses  # noqa: F401  (registers the causal-LM losses)

    if name not in LOSSES:
        raise KeyError(
            f"unknown loss {name!r} (train_edit.*.terms.*.loss); registered: {sorted(LOSSES)}"
        )
    return LOSSES[name]


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(a.float(), b.float(), dim=-1)


@register_loss("encoder_forget")
def encoder_forget(
    edited: torch.Tensor,
    base: torch.Tensor,
    redirect: torch.Tensor,
    margin: float = 0.3,
    redirect_weight: float = 1.0,
    redirect_target: float = 1.0,
) -> torch.Tensor:
    """Move an unsafe text off its base embedding and onto its safe redirect.

    ``relu(cos(edited, base) - margin)`` pushes it below a cosine margin to where it was
    (so its own gallery entry no longer ranks near the top); ``redirect_weight *
    relu(redirect_target - cos(edited, redirect))`` pulls it to the safe counterpart, which
    keeps the new position meaningful instead of arbitrary.
    """
    away = F.relu(_cos(edited, base) - margin)
    toward = F.relu(redirect_target - _cos(edited, redirect))
    return (away + redirect_weight * toward).mean()


@register_loss("encoder_forget_rank")
def encoder_forget_rank(
    edited: torch.Tensor,
    base: torch.Tensor,
    redirect: torch.Tensor,
    gap: float = 0.2,
    redirect_weight: float = 0.5,
) -> torch.Tensor:
    """Ranking form: the redirect must be closer than the own base by ``gap`` (a hinge)."""
    rank = F.relu(_cos(edited, base) - _cos(edited, redirect) + gap)
    return (rank + redirect_weight * (1 - _cos(edited, redirect))).mean()


@register_loss("encoder_retain")
def encoder_retain(edited: torch.Tensor, base: torch.Tensor, **_: float) -> torch.Tensor:
    """Keep embeddings where the frozen base puts them: mean ``1 - cos``."""
    return (1 - _cos(edited, base)).mean()


@register_loss("encoder_retain_l2")
def encoder_retain_l2(edited: torch.Tensor, base: torch.Tensor, **_: float) -> torch.Tensor:
    """Squared distance to the base embedding (penalises large drifts more than ``1 - cos``)."""
    return (edited.float() - base.float()).pow(2).sum(-1).mean()


def _gallery_sims(edited: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """Cosine of every edited row to every (frozen-base) gallery entry, ``[batch, gallery]``."""
    return F.normalize(edited.float(), dim=-1) @ F.normalize(gallery.float(), dim=-1).T


def _off_base_toward_redirect(
    edited: torch.Tensor,
    base: torch.Tensor,
    redirect: torch.Tensor,
    margin: float,
    redirect_weight: float,
) -> torch.Tensor:
    """Per row: ``relu(cos(edited, base) - margin) + redirect_weight * (1 - cos(edited, redirect))``."""
    away = F.relu(_cos(edited, base) - margin)
    return away + redirect_weight * (1 - _cos(edited, redirect))


@register_loss("encoder_forget_gallery")
def encoder_forget_gallery(
    edited: torch.Tensor,
    base: torch.Tensor,
    redirect: torch.Tensor,
    gallery: torch.Tensor,
    own: torch.Tensor,
    k: int = 5,
    gap: float = 0.05,
    margin: float = 0.5,
    redirect_weight: float = 0.25,
) -> torch.Tensor:
    """Retrieval-shaped forget loss: push each unsafe text's own base entry out of its top-k.

    ``gallery`` holds frozen-base embeddings of every training text (``own[i]`` is row i's
    entry). The hinge ``relu(cos(e, own) - kth_best_other + gap)`` is exactly "the own entry
    ranks below k others by ``gap``", so the text moves only as far as retrieval needs;
    ``relu(cos(e, base) - margin)`` bounds what is left of the old meaning, and a light pull
    to the redirect picks the safe direction to move in.
    """
    sims = _gallery_sims(edited, gallery)
    own_sim = sims.gather(1, own.view(-1, 1)).squeeze(1)
    others = sims.scatter(1, own.view(-1, 1), float("-inf"))
    kth = others.topk(min(k, others.shape[1] - 1), dim=1).values[:, -1]
    rank = F.relu(own_sim - kth + gap)
    return (
        rank + _off_base_toward_redirect(edited, base, redirect, margin, redirect_weight)
    ).mean()


@register_loss("encoder_forget_region")
def encoder_forget_region(
    edited: torch.Tensor,
    base: torch.Tensor,
    redirect: torch.Tensor,
    gallery: torch.Tensor,
    own: torch.Tensor,
    group: torch.Tensor,
    gallery_group: torch.Tensor,
    k: int = 10,
    gap: float = 0.05,
    margin: float = 0.5,
    redirect_weight: float = 0.25,
    temperature: float = 0.05,
) -> torch.Tensor:
    """Forget a region, not a string: no unsafe scene of the rule may stay in the top-k.

    ``gallery`` holds frozen-base embeddings of every training text; ``gallery_group[j]`` is
    the rule index of entry j when it is an unsafe (forget) text, else -1, and ``group[i]``
    is row i's rule. The hinge ``relu(smooth_max(cos(e, unsafe entries of the rule)) -
    kth_best_safe + gap)`` asks that every other wording of the unsafe relation (other
    lemmas, syntax, context: the stand-ins for its images) ranks below k safe entries, so
    the edit learns the relation rather than moving each string off its own copy.
    ``temperature`` smooths the max (log-sum-exp) so every close unsafe entry gets gradient.
    """
    sims = _gallery_sims(edited, gallery)
    unsafe = gallery_group.view(1, -1) == group.view(-1, 1)
    unsafe = unsafe.scatter(1, own.view(-1, 1), True)
    not_safe = unsafe | (gallery_group.view(1, -1) >= 0)  # any rule's unsafe text
    neg_inf = torch.finfo(sims.dtype).min
    unsafe_sims = sims.masked_fill(~unsafe, neg_inf)
    smooth_max = temperature * torch.logsumexp(unsafe_sims / temperature, dim=1)
    n_safe = int((~not_safe).sum(1).min())
    kth = sims.masked_fill(not_safe, neg_inf).topk(max(1, min(k, n_safe)), dim=1).values[:, -1]
    rank = F.relu(smooth_max - kth + gap)
    return (
        rank + _off_base_toward_redirect(edited, base, redirect, margin, redirect_weight)
    ).mean()
