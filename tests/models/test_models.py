"""Model loading and the behaviours the edits rely on: pooling, chat template, left padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relsafe.models import EncoderConfig, ModelSourceError, load_encoder, resolve_model_dir
from relsafe.models.causal_lm import CausalLMConfig, chat_inputs, generate_responses, load_causal_lm
from relsafe.models.encoders import mean_pool


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 2.0]]


def test_encoder_is_batch_invariant(tiny_bert_dir):
    enc = load_encoder(EncoderConfig(name_or_path=str(tiny_bert_dir)))
    texts = ["a child", "a child drinking a glass of juice in the kitchen"]
    together = enc.encode(texts)
    alone = np.concatenate([enc.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_clip_tower_from_a_full_clip_checkpoint(tiny_clip_dir):
    enc = load_encoder(EncoderConfig(name_or_path=str(tiny_clip_dir), kind="clip_text"))
    assert enc.embedding_dim == 16 and enc.model.config.model_type == "clip_text_model"


def test_config_errors():
    with pytest.raises(ValueError, match="model.kind"):
        load_encoder(EncoderConfig(name_or_path=".", kind="bag_of_words"))
    with pytest.raises(ModelSourceError, match="not installed"):
        resolve_model_dir("package:no_such_model_pkg")
    with pytest.raises(ModelSourceError, match="does not exist"):
        resolve_model_dir("./no/such/dir")


def test_chat_template_and_left_padded_batches(tiny_llama_dir):
    model, tok = load_causal_lm(CausalLMConfig(name_or_path=str(tiny_llama_dir), gguf_file=None))
    assert tok.padding_side == "left" and tok.pad_token is not None
    rendered = chat_inputs(tok, ["Describe a cat."])[0]
    assert "<|im_start|>user\nDescribe a cat.<|im_end|>" in rendered and rendered.endswith(
        "<|im_start|>assistant\n"
    )
    prompts = ["hi", "describe a cat sitting on a warm windowsill in the sun"]
    batched = generate_responses(
        model, tok, prompts, max_new_tokens=5, batch_size=2, progress=False
    )
    single = [
        generate_responses(model, tok, [p], max_new_tokens=5, progress=False)[0] for p in prompts
    ]
    assert batched == single, "left padding must not change greedy outputs"
