"""The tiny test models load through the same code paths as the real ones."""

import numpy as np

from relsafe.models import EncoderConfig, load_encoder
from relsafe.models.causal_lm import CausalLMConfig, generate_responses, load_causal_lm


def test_tiny_bert_encodes(tiny_bert_dir):
    enc = load_encoder(EncoderConfig(name_or_path=str(tiny_bert_dir)))
    emb = enc.encode(["a child drinking juice", "a man on a bench"])
    assert emb.shape == (2, 32)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_tiny_clip_text_tower_encodes(tiny_clip_dir):
    enc = load_encoder(EncoderConfig(name_or_path=str(tiny_clip_dir), kind="clip_text"))
    assert enc.encode(["a dog", "a cat on a mat"]).shape == (2, 16)


def test_tiny_llama_generates(tiny_llama_dir):
    model, tok = load_causal_lm(CausalLMConfig(name_or_path=str(tiny_llama_dir), gguf_file=None))
    out = generate_responses(model, tok, ["hi", "describe a cat"], max_new_tokens=4, progress=False)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
