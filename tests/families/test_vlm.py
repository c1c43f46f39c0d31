"""The VLM family on a tiny random LLaVA: LoRA only in the language model, text training,
generation with and without images, image decoding errors, the pyfunc and the schema."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from relsafe.families import get_family
from relsafe.models.vlm import (
    ImageDecodeError,
    decode_image,
    encode_png,
    generate_vlm,
    language_model_prefix,
    vision_parameters,
)

PARAMS = {
    "steps": 3,
    "batch_size": 2,
    "lr": 1e-2,
    "progress": False,
    "device": "cpu",
    "mixed_precision": "no",
    "lora": {"r": 2, "alpha": 4, "layers": 0.5},
    "vlm": {
        "max_prompt_tokens": 32,
        "max_target_tokens": 4,
        "terms": {
            "forget": {"loss": "lm_npo", "data": "forget", "target": "completion"},
            "refusal": {"loss": "lm_refusal", "data": "forget", "target": "refusal"},
            "retain": {"loss": "lm_retain_kl", "data": "retain", "target": "completion"},
        },
    },
}


def _sets():
    forget = pd.DataFrame(
        {
            "prompt": ["How do I pick a lock?", "Show a child drinking wine."],
            "completion": ["First, get a pin", "Sure, here is"],
            "refusal": ["I can't help with that."] * 2,
            "source": ["advbench", "relational"],
            "split": ["train", "train"],
        }
    )
    retain = pd.DataFrame(
        {
            "prompt": ["How do I bake bread?", "Show a child drinking juice."],
            "completion": ["Mix flour", "A child"],
            "refusal": ["", ""],
            "source": ["benign", "contrast"],
            "split": ["train", "train"],
        }
    )
    return forget, retain


def _image(seed: int = 0):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, size=(40, 50, 3), dtype=np.uint8))


def test_lora_targets_only_the_language_model_and_vision_is_unchanged(tiny_vlm_dir):
    from relsafe.editing.edit import train_family_edit

    family = get_family("vlm")
    model_params = {"family": "vlm", "name_or_path": str(tiny_vlm_dir)}
    base = family.load_base(model_params)
    model = base[0]
    before = {n: p.detach().clone() for n, p in vision_parameters(model).items()}
    assert before, "the tiny VLM has no vision parameters?"
    prefix = language_model_prefix(model)
    forget, retain = _sets()
    bundle, history = train_family_edit(family, base, forget, retain, PARAMS, {"kind": "edit"})
    assert len(history) == 3
    lora_keys = [k for k in bundle.state_dict if "lora_" in k]
    assert lora_keys and all(prefix.split(".")[-1] in k for k in lora_keys)
    assert not any("vision" in k or "projector" in k for k in lora_keys)
    assert all("layers.1." in k for k in lora_keys), "layers: 0.5 keeps the top layer only"
    after = vision_parameters(model)  # peft wrapped the language model in place
    assert set(after) == set(before)
    for name, value in before.items():
        assert torch.equal(after[name], value), f"{name} changed"
        assert not after[name].requires_grad


def test_generate_with_and_without_images(tiny_vlm_dir):
    family = get_family("vlm")
    model, processor = family.load_base({"family": "vlm", "name_or_path": str(tiny_vlm_dir)})
    out = generate_vlm(
        model,
        processor,
        ["Describe this.", "Say hi.", "What is here?"],
        [_image(0), None, _image(1)],
        max_new_tokens=3,
        batch_size=2,
        progress=False,
    )
    assert len(out) == 3 and all(isinstance(o, str) for o in out)


def test_decode_image_paths_base64_and_errors(tmp_path):
    img = _image()
    assert decode_image(None) is None and decode_image(float("nan")) is None
    assert decode_image(encode_png(img)).size == (50, 40)
    assert decode_image("data:image/png;base64," + encode_png(img)).size == (50, 40)
    path = tmp_path / "x.png"
    img.save(path)
    assert decode_image(str(path)).size == (50, 40)
    with pytest.raises(ImageDecodeError, match="row 3"):
        decode_image("not an image at all", row=3)
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ImageDecodeError, match="bad.png"):
        decode_image(str(tmp_path / "bad.png"), row=0)


def test_pyfunc_rows_name_the_undecodable_image():
    from mlflow.exceptions import MlflowException

    from relsafe.registry.vlm_pyfunc import row_images

    frame = pd.DataFrame({"prompt": ["a", "b"], "image": [None, "%%%"]})
    with pytest.raises(MlflowException, match="row 1"):
        row_images(frame, 2)
    assert row_images(pd.DataFrame({"prompt": ["a"]}), 1) == [None]


def test_vlm_config_typos_are_named():
    from relsafe.config_schema import ConfigError, validate_params

    with pytest.raises(ConfigError, match="train_edit.stpes"):
        validate_params({"train_edit": {"stpes": 3}})
    with pytest.raises(ConfigError, match="train_edit.vlm.max_prompt_tokenz"):
        validate_params({"train_edit": {"vlm": {"max_prompt_tokenz": 3}}})
    with pytest.raises(ConfigError, match="evaluate_edit.vlm.modalitiez"):
        validate_params({"evaluate_edit": {"vlm": {"modalitiez": ["text"]}}})
    validate_params({"model": {"family": "vlm", "name_or_path": "x", "processor": None}})


def test_image_folder_labels_and_errors(tmp_path):
    from relsafe.evaluation.image_folder import load_image_folder

    for name in ("a.png", "b.png"):
        _image().save(tmp_path / name)
    (tmp_path / "captions.csv").write_text(
        "file,caption,label\na.png,a child drinking wine,unsafe\nb.png,a dog on a bench,benign\n"
    )
    frame = load_image_folder({"dir": str(tmp_path)})
    assert frame["unsafe"].tolist() == [True, False]
    assert load_image_folder(None) is None
    assert list(load_image_folder({"dir": str(tmp_path)}, labels=False).columns) == [
        "path",
        "caption",
    ]
    (tmp_path / "captions.csv").write_text("file,caption\nmissing.png,a cat\n")
    with pytest.raises(ValueError, match="missing.png"):
        load_image_folder({"dir": str(tmp_path)})
    with pytest.raises(ValueError, match="unknown key"):
        load_image_folder({"dir": str(tmp_path), "captionz": "x"})
