"""Adapter switching: merged inference equals unmerged, and the base is restored afterwards."""

import numpy as np
import torch

from relsafe.editing import AdapterBundle, add_lora
from relsafe.evaluation.suite import _attach, _detach, encode_unique
from relsafe.models import EncoderConfig, load_encoder


def test_attach_merge_detach_round_trip(tiny_bert_dir):
    cfg = EncoderConfig(name_or_path=str(tiny_bert_dir))
    donor = load_encoder(cfg)
    peft = add_lora(donor.model, {"r": 2, "alpha": 4})
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.fill_(0.3)
    bundle = AdapterBundle.from_peft(peft, {"family": "encoder"})
    enc = load_encoder(cfg)
    texts = ["a child drinking wine", "a man holding a camera", "a man holding a camera"]
    base = enc.encode(texts)
    enc.model = _attach(enc.model, bundle, merge=False)
    unmerged = enc.encode(texts)
    enc.model = _detach(enc.model)
    enc.model = _attach(enc.model, bundle, merge=True)
    merged = encode_unique(enc.encode, texts, batch_size=2)
    enc.model = _detach(enc.model)
    assert np.abs(unmerged - base).max() > 1e-3
    assert np.allclose(merged, unmerged, atol=1e-5)
    assert np.allclose(enc.encode(texts), base, atol=1e-5)
    assert np.array_equal(merged[1], merged[2])
