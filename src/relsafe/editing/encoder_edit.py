"""Relationship-aware LoRA edit of a text encoder."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from relsafe.editing.adapter_io import AdapterBundle
from relsafe.editing.lora import add_lora, trainable_share
from relsafe.editing.losses import get_loss
from relsafe.models.encoders import TextEncoder

logger = logging.getLogger(__name__)

MetricCallback = Callable[[dict[str, float], int], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_encoder_edit(
    encoder: TextEncoder,
    forget: pd.DataFrame,
    retain: pd.DataFrame,
    params: dict,
    manifest: dict,
    on_metrics: MetricCallback | None = None,
) -> tuple[AdapterBundle, pd.DataFrame]:
    """Train a LoRA adapter; returns the adapter and the per-step loss history.

    ``params`` is ``train_edit`` from parameters_train_edit.yml: ``seed``, ``steps``,
    ``batch_size``, ``lr``, ``lora`` and ``loss_weights`` ({forget, retain, marginal}).
    """
    if forget.empty:
        raise ValueError("forget set is empty: nothing to unlearn (check the policy and the corpus)")
    seed_everything(int(params.get("seed", 0)))
    torch.use_deterministic_algorithms(True, warn_only=True)
    bs = int(params.get("batch_size", 16))
    log_every = int(params.get("log_every", 10))
    weights = params.get("loss_weights", {"forget": 1.0, "retain": 1.0, "marginal": 1.0})

    f_texts, f_redirect = forget["text"].tolist(), forget["redirect"].tolist()
    is_marginal = retain["kind"].astype(str).str.startswith("marginal").to_numpy()
    r_texts = retain["text"].tolist()
    base_f = torch.from_numpy(encoder.encode(f_texts))
    base_red = torch.from_numpy(encoder.encode(f_redirect))
    base_r = torch.from_numpy(encoder.encode(r_texts))

    encoder.model = add_lora(encoder.model, params.get("lora", {}))
    share = trainable_share(encoder.model)
    optimizer = torch.optim.AdamW(
        [p for p in encoder.model.parameters() if p.requires_grad], lr=float(params.get("lr", 5e-4))
    )
    forget_loss, retain_loss = get_loss("encoder_forget"), get_loss("encoder_retain")
    margin = float(params.get("forget_margin", 0.0))
    rng = np.random.default_rng(int(params.get("seed", 0)))
    marg_idx, plain_idx = np.flatnonzero(is_marginal), np.flatnonzero(~is_marginal)
    history = []
    encoder.train()
    start = time.perf_counter()
    for step in tqdm(range(1, int(params.get("steps", 100)) + 1), desc="LoRA edit (encoder)"):
        fi = rng.choice(len(f_texts), size=min(bs, len(f_texts)), replace=False)
        terms: dict[str, torch.Tensor] = {}
        terms["forget"] = forget_loss(encoder([f_texts[i] for i in fi]), base_f[fi], base_red[fi], margin=margin)
        if len(plain_idx):
            ri = rng.choice(plain_idx, size=min(bs, len(plain_idx)), replace=False)
            terms["retain"] = retain_loss(encoder([r_texts[i] for i in ri]), base_r[ri])
        if len(marg_idx):
            mi = rng.choice(marg_idx, size=min(bs, len(marg_idx)), replace=False)
            terms["marginal"] = retain_loss(encoder([r_texts[i] for i in mi]), base_r[mi])
        loss = sum(float(weights.get(k, 1.0)) * v for k, v in terms.items())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        row = {"step": step, "loss": float(loss), **{k: float(v) for k, v in terms.items()}}
        history.append(row)
        if on_metrics and step % log_every == 0:
            on_metrics({f"train/{k}": v for k, v in row.items() if k != "step"}, step)
    encoder.eval()
    manifest = {
        **manifest,
        "trainable_share": share,
        "train_seconds": round(time.perf_counter() - start, 2),
        "n_forget": len(f_texts),
        "n_retain": len(r_texts),
    }
    logger.info("encoder edit: %d steps, trainable share %.4f%%", len(history), 100 * share)
    return AdapterBundle.from_peft(encoder.model, manifest), pd.DataFrame(history)
