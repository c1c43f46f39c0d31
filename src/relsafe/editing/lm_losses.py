"""Causal-LM unlearning losses (registered in :data:`relsafe.editing.losses.LOSSES`).

Every loss gets a :class:`SeqScores` for its rows: per-sequence summed log-probabilities of
the target tokens under the edited model, their token counts, and (for KL) the edited and
frozen-base logits at the target positions.

- ``lm_npo``: Negative Preference Optimisation (Zhang et al., 2024) on forget completions,
  ``-(2/beta) * log sigmoid(-beta * (logp - logp_ref))``: bounded, unlike gradient ascent.
- ``lm_grad_ascent``: the plain baseline, minus the mean token NLL (unbounded).
- ``lm_refusal``: mean token NLL of a refusal target on forget prompts.
- ``lm_retain_kl``: KL(base || edited) over the answer positions of retain prompts.
- ``lm_retain_nll``: NLL of the base model's own answers on retain prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from relsafe.editing.losses import register_loss


@dataclass
class SeqScores:
    logp: torch.Tensor  # [batch] summed log-prob of the target tokens (edited model)
    n_tokens: torch.Tensor  # [batch] target tokens per row
    ref_logp: torch.Tensor | None = None  # [batch] the same under the frozen base
    logits: torch.Tensor | None = None  # [n_positions, vocab] edited, at target positions
    ref_logits: torch.Tensor | None = None  # [n_positions, vocab] frozen base, same positions


@register_loss("lm_npo")
def lm_npo(scores: SeqScores, beta: float = 0.1, **_: float) -> torch.Tensor:
    if scores.ref_logp is None:
        raise ValueError("lm_npo needs the frozen base's log-probs (ref_logp)")
    ratio = scores.logp - scores.ref_logp
    return (-(2.0 / beta) * F.logsigmoid(-beta * ratio)).mean()


@register_loss("lm_grad_ascent")
def lm_grad_ascent(scores: SeqScores, **_: float) -> torch.Tensor:
    return (scores.logp / scores.n_tokens.clamp(min=1)).mean()


@register_loss("lm_refusal")
def lm_refusal(scores: SeqScores, **_: float) -> torch.Tensor:
    return (-scores.logp / scores.n_tokens.clamp(min=1)).mean()


@register_loss("lm_retain_nll")
def lm_retain_nll(scores: SeqScores, **_: float) -> torch.Tensor:
    return (-scores.logp / scores.n_tokens.clamp(min=1)).mean()


@register_loss("lm_retain_kl")
def lm_retain_kl(scores: SeqScores, **_: float) -> torch.Tensor:
    if scores.logits is None or scores.ref_logits is None:
        raise ValueError("lm_retain_kl needs edited and base logits at the answer positions")
    logq = F.log_softmax(scores.logits.float(), dim=-1)
    logp = F.log_softmax(scores.ref_logits.float(), dim=-1)
    return F.kl_div(logq, logp, log_target=True, reduction="batchmean")
