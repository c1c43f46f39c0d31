"""Nodes: adapter + eval set -> metrics."""

from __future__ import annotations

import pandas as pd

from relsafe.editing import AdapterBundle
from relsafe.editing.attach import attach_adapter
from relsafe.evaluation import encoder_metrics
from relsafe.models import EncoderConfig, load_encoder


def evaluate_edit(adapter: AdapterBundle, eval_set: pd.DataFrame, model: dict, params: dict) -> tuple[dict, pd.DataFrame]:
    cfg = EncoderConfig.from_params(model)
    base = load_encoder(cfg)
    texts = eval_set["text"].tolist()
    base_emb = base.encode(texts)
    base.model = attach_adapter(base.model, adapter)
    edited_emb = base.encode(texts)
    metrics, rows = encoder_metrics(eval_set, base_emb, edited_emb, ks=tuple(params["ks"]))
    return metrics, rows
