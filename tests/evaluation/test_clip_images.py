"""Image attacks (deterministic, numpy/PIL/skimage only) and tiny-CLIP image metrics."""

import numpy as np
import pytest

from relsafe.evaluation.clip_images import (
    IMAGE_ATTACKS,
    ClipImageTower,
    apply_image_attack,
    attacked_image_embeddings,
    image_retrieval_metrics,
    load_sample_image,
    shrink,
)
from relsafe.models import EncoderConfig, load_encoder


@pytest.fixture(scope="module")
def photos():
    return [shrink(load_sample_image(n), 64) for n in ("astronaut", "coffee", "chelsea", "camera")]


def test_sample_images_are_rgb_uint8():
    for name in ("camera", "horse", "logo", "stereo_motorcycle"):
        img = load_sample_image(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    with pytest.raises(KeyError, match="no image"):
        load_sample_image("not_an_image")


@pytest.mark.parametrize("name", sorted(IMAGE_ATTACKS))
def test_attacks_deterministic_same_shape(name, photos):
    img = photos[0]
    a, b = apply_image_attack(name, img, seed=3), apply_image_attack(name, img, seed=3)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    if name != "identity":
        assert not np.array_equal(a, img), f"{name} did not change the image"


def test_seeded_attacks_vary_with_seed(photos):
    img = photos[1]
    for name in ("gaussian_noise", "random_crop", "colour_jitter"):
        assert not np.array_equal(
            apply_image_attack(name, img, seed=0), apply_image_attack(name, img, seed=1)
        )


def test_attack_options_from_params(photos):
    mild = apply_image_attack({"name": "gaussian_noise", "sigma": 0.01}, photos[0])
    strong = apply_image_attack({"name": "gaussian_noise", "sigma": 0.5}, photos[0])
    diff = lambda x: np.abs(x.astype(int) - photos[0].astype(int)).mean()  # noqa: E731
    assert diff(mild) < diff(strong)


def test_tiny_clip_image_metrics(tiny_clip_dir, photos):
    tower = ClipImageTower(tiny_clip_dir)
    pixels = tower.preprocess(photos)
    assert tuple(pixels.shape) == (4, 3, 32, 32)
    emb = attacked_image_embeddings(
        tower, photos, ["center_crop", {"name": "blur", "sigma": 1.0, "label": "soft_blur"}]
    )
    assert set(emb) == {"identity", "center_crop", "soft_blur"} and emb["identity"].shape == (4, 16)
    text = load_encoder(EncoderConfig(name_or_path=str(tiny_clip_dir), kind="clip_text"))
    caps = text.encode(["an astronaut", "a cup of coffee", "a cat", "a man with a camera"])
    m, rows = image_retrieval_metrics(emb, caps, ks=(1, 5))
    for key in (
        "clip_img_i2t_r1",
        "clip_img_t2i_r1",
        "clip_img_center_crop_i2t_r1",
        "clip_img_soft_blur_t2i_r5",
        "clip_img_attacks_i2t_r1",
    ):
        assert 0.0 <= m[key] <= 1.0, key
    assert m["clip_img_i2t_r5"] == 1.0  # 4 candidates: always in the top 5
    assert len(rows) == 12
