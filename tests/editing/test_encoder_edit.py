"""Encoder edit: terms from params, adapter + manifest, and the saved adapter reproduces the edit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from relsafe.editing import AdapterBundle
from relsafe.editing.attach import attach_adapter
from relsafe.editing.encoder_edit import parse_terms, train_encoder_edit
from relsafe.editing.lora import add_lora, trainable_share
from relsafe.models import EncoderConfig, load_encoder


def _enc(path, kind="mean_pool"):
    return load_encoder(EncoderConfig(name_or_path=str(path), kind=kind, max_length=16))


@pytest.mark.parametrize("kind", ["mean_pool", "clip_text"])
def test_edit_moves_unsafe_texts_and_saves_a_reloadable_adapter(
    kind, tiny_bert_dir, tiny_clip_dir, tiny_sets, make_params, tmp_path
):
    path = tiny_bert_dir if kind == "mean_pool" else tiny_clip_dir
    forget, retain = tiny_sets
    encoder = _enc(path, kind)
    base = encoder.encode(forget["text"].tolist())
    bundle, history = train_encoder_edit(
        encoder, forget, retain, make_params(steps=6, lr=5e-2), {"base_sha256": "x"}
    )
    edited = encoder.encode(forget["text"].tolist())
    assert float(np.mean((base * edited).sum(1))) < 0.999, "forget texts did not move"
    assert list(history.columns[:2]) == ["step", "loss"] and {
        "forget",
        "retain",
        "marginal",
    } <= set(history.columns)
    m = bundle.manifest
    assert 0 < m["trainable_share"] < 1 and m["steps_run"] == 6 and m["base_sha256"] == "x"
    assert m["data_sha256"] and m["terms"]["forget"]["loss"] == "encoder_forget"

    bundle.save(tmp_path / "adapter")
    loaded = AdapterBundle.load(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    fresh = _enc(path, kind)
    fresh.model = attach_adapter(fresh.model, loaded)
    np.testing.assert_allclose(fresh.encode(forget["text"].tolist()), edited, atol=1e-5)


def test_minilm_default_lora_is_under_one_percent():
    """The real MiniLM shape (random weights, nothing loaded) with the default targets."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
    )
    share = trainable_share(add_lora(BertModel(cfg), {"r": 4, "alpha": 8}))  # conf/base
    assert 0 < share < 0.01


def test_terms_are_named_weighted_and_validated():
    specs = parse_terms(
        {
            "forget": {"loss": "encoder_forget", "weight": 2.0, "margin": 0.4},
            "marginal": {"loss": "encoder_retain", "kinds": ["marginal_"]},
        }
    )
    assert [s.name for s in specs] == ["forget", "marginal"]
    assert (
        specs[1].weight == 1.0 and specs[1].data == "retain" and specs[0].options == {"margin": 0.4}
    )
    with pytest.raises(KeyError, match="unknown loss"):
        parse_terms({"forget": {"loss": "nope"}})
    with pytest.raises(ValueError, match="needs a `loss`"):
        parse_terms({"forget": {"weight": 1}})


def test_bad_sets_are_reported_by_name(tiny_bert_dir, tiny_sets, make_params):
    forget, retain = tiny_sets
    with pytest.raises(ValueError, match="forget_set: missing column"):
        train_encoder_edit(
            _enc(tiny_bert_dir), forget.drop(columns="redirect"), retain, make_params(), {}
        )
    bad = forget.copy()
    bad.loc[2, "text"] = ""
    with pytest.raises(ValueError, match=r"row\(s\) \[2\]"):
        train_encoder_edit(_enc(tiny_bert_dir), bad, retain, make_params(), {})
    with pytest.raises(ValueError, match="empty"):
        train_encoder_edit(_enc(tiny_bert_dir), forget.iloc[:0], retain, make_params(), {})


def test_zero_weight_term_is_not_computed(tiny_bert_dir, tiny_sets, make_params):
    forget, retain = tiny_sets
    params = make_params(steps=2)
    params["encoder"]["terms"]["marginal"]["weight"] = 0.0
    _, history = train_encoder_edit(_enc(tiny_bert_dir), forget, retain, params, {})
    assert "marginal" not in history.columns


def test_retain_terms_start_at_zero_without_dropout(tiny_bert_dir, tiny_sets, make_params):
    """The first step sees the unchanged model (LoRA B = 0), in eval mode: no drift yet."""
    forget, retain = tiny_sets
    _, history = train_encoder_edit(_enc(tiny_bert_dir), forget, retain, make_params(steps=1), {})
    assert abs(history.loc[0, "retain"]) < 1e-5 and abs(history.loc[0, "marginal"]) < 1e-5


def test_loss_registry_losses():
    from relsafe.editing.losses import get_loss

    e = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    assert float(get_loss("encoder_retain")(e, e)) == pytest.approx(0.0, abs=1e-6)
    # at the redirect and far from the base: nothing left to do
    red = e.clone()
    base = -e
    assert float(get_loss("encoder_forget")(e, base, red, margin=0.3)) == pytest.approx(
        0.0, abs=1e-6
    )
    assert float(
        get_loss("encoder_forget_rank")(e, base, red, gap=0.2, redirect_weight=0.0)
    ) == pytest.approx(0.0, abs=1e-6)
    assert float(get_loss("encoder_forget")(e, e, base, margin=0.3)) > 1.0
    assert pd.notna(float(get_loss("encoder_retain_l2")(e, base)))


def test_lora_layers_as_fraction_or_list():
    from transformers import BertConfig, BertModel

    from relsafe.editing.lora import layer_indices

    model = BertModel(
        BertConfig(
            vocab_size=50,
            hidden_size=8,
            num_hidden_layers=5,
            num_attention_heads=2,
            intermediate_size=8,
        )
    )
    assert layer_indices(model, None) is None
    assert layer_indices(model, 0.6) == [2, 3, 4]
    assert layer_indices(model, [4, 1]) == [1, 4]
    with pytest.raises(ValueError, match="out of range"):
        layer_indices(model, [7])
    with pytest.raises(ValueError, match="fraction"):
        layer_indices(model, 1.5)
    peft_model = add_lora(model, {"r": 2, "layers": 0.4})
    adapted = {
        n.split(".layer.")[1].split(".")[0]
        for n, _ in peft_model.named_parameters()
        if "lora_A" in n
    }
    assert adapted == {"3", "4"}


@pytest.mark.parametrize("mode", ["adversarial", "random"])
def test_perturbed_forget_term_trains_and_the_ascent_step_raises_the_loss(
    mode, tiny_bert_dir, tiny_sets, make_params
):
    from relsafe.editing.encoder_edit import TermSpec, embed_perturbed
    from relsafe.editing.losses import encoder_forget

    forget, retain = tiny_sets
    encoder = _enc(tiny_bert_dir)
    texts = forget["text"].tolist()
    base = torch.from_numpy(encoder.encode(texts))
    red = torch.from_numpy(encoder.encode(forget["redirect"].tolist()))

    def loss_of(e):
        return encoder_forget(e, base, red, margin=0.0)

    spec = TermSpec("forget", "encoder_forget", 1.0, "forget", perturb=0.5, perturb_mode=mode)
    gen = torch.Generator().manual_seed(0)
    plain = float(loss_of(encoder(texts)).detach())
    moved = float(loss_of(embed_perturbed(encoder, texts, spec, loss_of, gen)).detach())
    if mode == "adversarial":
        assert moved > plain  # the perturbation is the loss's ascent direction
    else:
        assert moved != plain
    terms = {
        "forget": {"loss": "encoder_forget", "perturb": 0.1, "perturb_mode": mode},
        "retain": {"loss": "encoder_retain", "data": "retain"},
    }
    params = make_params(steps=3, lr=5e-2)
    params["encoder"] = {**params.get("encoder", {}), "terms": terms}
    bundle, history = train_encoder_edit(encoder, forget, retain, params, {})
    assert bundle.manifest["steps_run"] == 3 and np.isfinite(history["forget"]).all()


def test_bad_perturb_settings_are_named():
    with pytest.raises(ValueError, match="forget.perturb_mode"):
        parse_terms({"forget": {"loss": "encoder_forget", "perturb": 0.1, "perturb_mode": "big"}})
    with pytest.raises(ValueError, match="forget.perturb"):
        parse_terms({"forget": {"loss": "encoder_forget", "perturb": -1}})
