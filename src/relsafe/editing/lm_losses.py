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
- ``lm_unlikelihood``: sequence-level unlikelihood (Welleck et al., 2019),
  ``-log(1 - p(target))``, of a refusal opener on benign prompts: the edit must not start
  a refusal where the base would answer. Scoring the whole opener, not each token, leaves
  "I'm happy to help" alone while "I'm sorry, but I can't" is pushed down.

Representation losses (the term's ``layers``; positions: the user turn and the answer):

- ``lm_reroute``: circuit breakers' rerouting loss (Zou et al., 2024),
  ``ReLU(cos(h_edit, h_base))`` averaged over layers and positions: forget prompts' hidden
  states are pushed orthogonal to (or away from) the base's, not to any target.
- ``lm_rmu``: RMU's forget loss (Li et al., 2024, WMDP), the squared distance to a fixed
  random direction ``u`` (one per layer, from ``seed``) scaled to ``coef`` times the base's
  hidden-state norm, relative to that norm: ``||h_edit - coef ||h_base|| u||^2 / ||h_base||^2``.
  Unlike ``lm_reroute`` its gradient does not vanish where the edit starts (cos = 1).
- ``lm_retain_hidden``: their retain loss, ``||h_edit - h_base||_2`` per position, divided by
  ``||h_base||_2`` when ``relative`` (scale-free across layers and models).

``lm_refusal`` and ``lm_retain_kl`` take ``head_tokens`` / ``head_weight``: the first answer
tokens, where a model decides to refuse or to answer, weigh ``head_weight`` times the rest.
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
    token_logp: torch.Tensor | None = None  # [n_positions] edited log-prob of each target token
    ref_top_logp: torch.Tensor | None = None  # [n_positions, k] frozen base's top-k log-probs
    ref_top_ids: torch.Tensor | None = None  # [n_positions, k] their token ids
    hidden: torch.Tensor | None = None  # [n_layers, n_positions, H] edited, representation losses
    ref_hidden: torch.Tensor | None = None  # [n_layers, n_positions, H] frozen base, same


def head_weights(n_tokens: torch.Tensor, head_tokens: int, head_weight: float) -> torch.Tensor:
    """Per-position weights over the flat answer positions: ``head_weight`` for each row's
    first ``head_tokens`` tokens, 1 after, normalised to mean 1 per row.

    The first answer tokens decide whether a model refuses ("I can't ..."), so retain and
    refusal terms can weigh them more than the rest of the answer.
    """
    counts = [int(c) for c in n_tokens.tolist()]
    parts = []
    for n in counts:
        w = torch.ones(n, device=n_tokens.device)
        w[: max(0, int(head_tokens))] = float(head_weight)
        parts.append(w * (n / w.sum()) if n else w)
    return torch.cat(parts) if parts else n_tokens.new_zeros(0)


def _weighted_row_mean(values: torch.Tensor, n_tokens: torch.Tensor, weights: torch.Tensor):
    """Mean over rows of each row's weighted mean of ``values`` (flat positions)."""
    rows = torch.repeat_interleave(
        torch.arange(len(n_tokens), device=values.device), n_tokens.long().to(values.device)
    )
    sums = torch.zeros(len(n_tokens), device=values.device).index_add(0, rows, values * weights)
    has = n_tokens > 0
    return (sums[has] / n_tokens[has]).mean() if has.any() else values.sum() * 0.0


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
def lm_refusal(
    scores: SeqScores, head_tokens: int = 0, head_weight: float = 1.0, **_: float
) -> torch.Tensor:
    if head_tokens and head_weight != 1.0:
        if scores.token_logp is None:
            raise ValueError("lm_refusal with head_tokens needs per-token log-probs")
        w = head_weights(scores.n_tokens, head_tokens, head_weight)
        return _weighted_row_mean(-scores.token_logp, scores.n_tokens, w)
    return (-scores.logp / scores.n_tokens.clamp(min=1)).mean()


@register_loss("lm_retain_nll")
def lm_retain_nll(scores: SeqScores, **_: float) -> torch.Tensor:
    return (-scores.logp / scores.n_tokens.clamp(min=1)).mean()


@register_loss("lm_unlikelihood")
def lm_unlikelihood(scores: SeqScores, **_: float) -> torch.Tensor:
    # log(1 - exp(logp)), with logp kept below 0 so the log stays finite
    return -torch.log(-torch.expm1(scores.logp.clamp(max=-1e-4))).mean()


@register_loss("lm_retain_kl")
def lm_retain_kl(
    scores: SeqScores, head_tokens: int = 0, head_weight: float = 1.0, **_: float
) -> torch.Tensor:
    if scores.logits is None or (scores.ref_logits is None and scores.ref_top_logp is None):
        raise ValueError("lm_retain_kl needs edited and base logits at the answer positions")
    logq = F.log_softmax(scores.logits.float(), dim=-1)
    if scores.ref_top_logp is not None:
        per_pos = top_k_kl(scores.ref_top_logp, scores.ref_top_ids, logq)
    else:
        logp = F.log_softmax(scores.ref_logits.float(), dim=-1)
        per_pos = F.kl_div(logq, logp, log_target=True, reduction="none").sum(-1)
    if head_tokens and head_weight != 1.0:
        # a row with an empty target still has one position (the first answer token)
        w = head_weights(scores.n_tokens.clamp(min=1), head_tokens, head_weight)
        return (per_pos * w).sum() / max(per_pos.shape[0], 1)
    return per_pos.sum() / max(per_pos.shape[0], 1)


def top_k_kl(ref_logp: torch.Tensor, ref_ids: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(base || edit) per position over the base's top-k tokens plus one bucket holding the
    rest of the vocabulary: ``sum_k p (log p - log q) + p_rest (log p_rest - log q_rest)``.

    This is the exact KL of the two distributions coarse-grained onto k + 1 outcomes, so it is
    never above the full KL and equals it when the base puts all its mass on the k tokens.
    ``ref_logp`` / ``ref_ids``: ``[n, k]``; ``logq``: the edit's ``[n, vocab]`` log-probs."""
    p_top = ref_logp.exp()
    head = (p_top * (ref_logp - logq.gather(-1, ref_ids))).sum(-1)
    if ref_ids.shape[-1] >= logq.shape[-1]:  # the whole vocabulary: no rest bucket
        return head
    log_p_rest = torch.log1p(-p_top.sum(-1).clamp(max=1 - 1e-6))
    log_q_rest = torch.logsumexp(logq.scatter(-1, ref_ids, float("-inf")), dim=-1)
    return head + log_p_rest.exp() * (log_p_rest - log_q_rest)


def _hidden_pair(scores: SeqScores, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if scores.hidden is None or scores.ref_hidden is None:
        raise ValueError(f"{name} needs edited and base hidden states (the term's `layers`)")
    return scores.hidden.float(), scores.ref_hidden.float()


@register_loss("lm_reroute")
def lm_reroute(scores: SeqScores, **_: float) -> torch.Tensor:
    h, ref = _hidden_pair(scores, "lm_reroute")
    return F.relu(F.cosine_similarity(h, ref, dim=-1)).mean()


@register_loss("lm_retain_hidden")
def lm_retain_hidden(scores: SeqScores, relative: bool = True, **_: float) -> torch.Tensor:
    h, ref = _hidden_pair(scores, "lm_retain_hidden")
    dist = (h - ref).norm(dim=-1)
    if relative:
        dist = dist / ref.norm(dim=-1).clamp(min=1e-6)
    return dist.mean()


_DIRECTIONS: dict[tuple[int, int, int], torch.Tensor] = {}


def _direction(dim: int, layer: int, seed: int) -> torch.Tensor:
    key = (dim, layer, seed)
    if key not in _DIRECTIONS:
        g = torch.Generator().manual_seed(seed * 1000 + layer)
        u = torch.rand(dim, generator=g)  # RMU draws from U(0, 1), then normalises
        _DIRECTIONS[key] = u / u.norm()
    return _DIRECTIONS[key]


@register_loss("lm_rmu")
def lm_rmu(scores: SeqScores, coef: float = 1.0, seed: int = 0, **_: float) -> torch.Tensor:
    h, ref = _hidden_pair(scores, "lm_rmu")
    norm = ref.norm(dim=-1, keepdim=True).clamp(min=1e-6)  # [layers, positions, 1]
    u = torch.stack([_direction(h.shape[-1], i, int(seed)) for i in range(h.shape[0])])
    target = float(coef) * norm * u.to(h.device)[:, None, :]
    return (((h - target) ** 2).sum(-1) / norm.squeeze(-1) ** 2).mean()
