"""CLIP only: retrieval with real images through the frozen image tower, and OOD image attacks.

Images are the sample photos that scikit-image ships (no downloads), with captions written in
params. Attacks (crops, noise, colour shifts, stylisation, blur, JPEG) are numpy / PIL /
scikit-image only (torchvision is not used) and deterministic: each takes an explicit seed.
Metric names: ``clip_img_t2i_r1`` (caption -> image), ``clip_img_i2t_r1`` (image -> caption),
``clip_img_<attack>_i2t_r1`` etc., prefixed per variant like every other metric.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from relsafe.evaluation.retrieval import recall_at_k
from relsafe.named import Registry

ImageAttack = Callable[..., np.ndarray]
IMAGE_ATTACKS: Registry[ImageAttack] = Registry("image attack", "evaluate_edit.clip_images.attacks")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


register_image_attack = IMAGE_ATTACKS.register
get_image_attack = IMAGE_ATTACKS.lookup


def load_sample_image(name: str) -> np.ndarray:
    """A scikit-image sample photo as ``uint8 [H, W, 3]`` (grey, binary and RGBA converted)."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader):
        raise KeyError(f"evaluate_edit.clip_images.images: skimage.data has no image {name!r}")
    img = loader()
    if isinstance(img, tuple):  # stereo pairs: take the left view
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = (255 * (img - img.min()) / max(float(img.max() - img.min()), 1e-12)).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((hw[1], hw[0]), Image.BICUBIC))


@register_image_attack("identity")
def identity(img: np.ndarray, seed: int = 0) -> np.ndarray:
    return img


@register_image_attack("center_crop")
def center_crop(img: np.ndarray, seed: int = 0, fraction: float = 0.6) -> np.ndarray:
    """Keep the central ``fraction`` of each side, resized back to the original size."""
    h, w = img.shape[:2]
    ch, cw = max(1, int(h * fraction)), max(1, int(w * fraction))
    top, left = (h - ch) // 2, (w - cw) // 2
    return _resize(img[top : top + ch, left : left + cw], (h, w))


@register_image_attack("random_crop")
def random_crop(img: np.ndarray, seed: int = 0, fraction: float = 0.5) -> np.ndarray:
    """A seeded off-centre crop, resized back."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    ch, cw = max(1, int(h * fraction)), max(1, int(w * fraction))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return _resize(img[top : top + ch, left : left + cw], (h, w))


@register_image_attack("gaussian_noise")
def gaussian_noise(img: np.ndarray, seed: int = 0, sigma: float = 0.15) -> np.ndarray:
    """Additive Gaussian noise, ``sigma`` as a fraction of the 0-255 range."""
    rng = np.random.default_rng(seed)
    return _to_uint8(img.astype(np.float64) + rng.normal(0.0, sigma * 255.0, img.shape))


@register_image_attack("salt_pepper")
def salt_pepper(img: np.ndarray, seed: int = 0, amount: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = img.copy()
    mask = rng.random(img.shape[:2])
    out[mask < amount / 2] = 0
    out[mask > 1 - amount / 2] = 255
    return out


@register_image_attack("hue_shift")
def hue_shift(img: np.ndarray, seed: int = 0, shift: float = 0.33) -> np.ndarray:
    """Rotate hue by ``shift`` of the colour wheel (HSV)."""
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(img)
    hsv[..., 0] = (hsv[..., 0] + shift) % 1.0
    return _to_uint8(hsv2rgb(hsv) * 255)


@register_image_attack("colour_jitter")
def colour_jitter(img: np.ndarray, seed: int = 0, strength: float = 0.4) -> np.ndarray:
    """Seeded per-channel gain and offset, and a contrast change."""
    rng = np.random.default_rng(seed)
    x = img.astype(np.float64)
    gain = 1.0 + rng.uniform(-strength, strength, size=3)
    offset = rng.uniform(-strength, strength, size=3) * 64
    contrast = 1.0 + rng.uniform(-strength, strength)
    mean = x.mean()
    return _to_uint8((x * gain + offset - mean) * contrast + mean)


@register_image_attack("grayscale")
def grayscale(img: np.ndarray, seed: int = 0) -> np.ndarray:
    from skimage.color import rgb2gray

    g = _to_uint8(rgb2gray(img) * 255)
    return np.stack([g] * 3, axis=-1)


@register_image_attack("blur")
def blur(img: np.ndarray, seed: int = 0, sigma: float = 3.0) -> np.ndarray:
    from skimage.filters import gaussian

    return _to_uint8(gaussian(img, sigma=sigma, channel_axis=-1, preserve_range=True))


@register_image_attack("jpeg")
def jpeg(img: np.ndarray, seed: int = 0, quality: int = 10) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@register_image_attack("posterize")
def posterize(img: np.ndarray, seed: int = 0, levels: int = 4) -> np.ndarray:
    """Stylisation: quantise each channel to ``levels`` flat tones."""
    step = 256 / int(levels)
    return _to_uint8((np.floor(img / step) + 0.5) * step)


@register_image_attack("cartoon")
def cartoon(
    img: np.ndarray, seed: int = 0, levels: int = 6, edge_threshold: float = 0.08
) -> np.ndarray:
    """Stylisation: smooth, posterise and draw dark edges (a cartoon look)."""
    from skimage.color import rgb2gray
    from skimage.filters import gaussian, sobel

    smooth = gaussian(img, sigma=2.0, channel_axis=-1, preserve_range=True)
    flat = posterize(_to_uint8(smooth), levels=levels).astype(np.float64)
    edges = sobel(rgb2gray(img)) > edge_threshold
    flat[edges] *= 0.15
    return _to_uint8(flat)


@register_image_attack("sketch")
def sketch(img: np.ndarray, seed: int = 0) -> np.ndarray:
    """Stylisation: a pencil-sketch look (inverted edge magnitude, grey)."""
    from skimage.color import rgb2gray
    from skimage.filters import sobel

    e = sobel(rgb2gray(img))
    g = _to_uint8(255 * (1.0 - e / max(float(e.max()), 1e-12)))
    return np.stack([g] * 3, axis=-1)


def apply_image_attack(spec: str | Mapping, img: np.ndarray, seed: int = 0) -> np.ndarray:
    """``spec``: an attack name, or ``{name: ..., <option>: ...}`` from params."""
    if isinstance(spec, str):
        return get_image_attack(spec)(img, seed=seed)
    opts = dict(spec)
    opts.pop("label", None)
    if "name" not in opts:
        raise KeyError(f"image attack spec {dict(spec)!r} has no 'name'")
    return get_image_attack(opts.pop("name"))(img, seed=seed, **opts)


def attack_label(spec: str | Mapping) -> str:
    return spec if isinstance(spec, str) else str(spec.get("label", spec["name"]))


class ClipImageTower:
    """The frozen CLIP image tower + projection, with CLIP preprocessing done in numpy/PIL."""

    def __init__(self, model_dir: str | Path):
        from transformers import AutoConfig, CLIPConfig, CLIPVisionModelWithProjection

        config = AutoConfig.from_pretrained(model_dir)
        if isinstance(config, CLIPConfig):
            vision = config.vision_config
            vision.projection_dim = config.projection_dim
            config = vision
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the text tower's weights are unused here, by design
        try:
            self.model = CLIPVisionModelWithProjection.from_pretrained(
                model_dir, config=config
            ).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
        self.size = int(config.image_size)
        self.mean, self.std = OPENAI_MEAN, OPENAI_STD
        pre = (
            Path(model_dir) / "preprocessor_config.json"
            if isinstance(model_dir, Path) or Path(str(model_dir)).exists()
            else None
        )
        if pre is not None and pre.is_file():
            cfg = json.loads(pre.read_text())
            self.mean, self.std = (
                tuple(cfg.get("image_mean", self.mean)),
                tuple(cfg.get("image_std", self.std)),
            )

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """Resize the short side to ``size`` (bicubic), centre-crop, scale and normalise."""
        out = []
        for img in images:
            h, w = img.shape[:2]
            scale = self.size / min(h, w)
            nh, nw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
            r = _resize(img, (nh, nw))
            top, left = (nh - self.size) // 2, (nw - self.size) // 2
            r = r[top : top + self.size, left : left + self.size].astype(np.float32) / 255.0
            out.append((r - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32))
        return torch.from_numpy(np.stack(out).transpose(0, 3, 1, 2).copy())

    @torch.no_grad()
    def encode(self, images: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        parts = []
        for i in range(0, len(images), batch_size):
            emb = self.model(pixel_values=self.preprocess(images[i : i + batch_size])).image_embeds
            parts.append(torch.nn.functional.normalize(emb, dim=-1).float().numpy())
        return np.concatenate(parts)


def attacked_image_embeddings(
    tower: ClipImageTower, images: list[np.ndarray], attacks: list, seed: int = 0
) -> dict[str, np.ndarray]:
    """Embeddings of the clean images (``identity``) and of every attacked copy."""
    out = {"identity": tower.encode(images)}
    for spec in attacks:
        label = attack_label(spec)
        out[label] = tower.encode(
            [apply_image_attack(spec, img, seed=seed + i) for i, img in enumerate(images)]
        )
    return out


def image_retrieval_metrics(
    image_emb: dict[str, np.ndarray], caption_emb: np.ndarray, ks: tuple[int, ...] = (1, 5)
) -> tuple[dict[str, float], pd.DataFrame]:
    """Unprefixed metrics for one text-side variant; rows: per image, per attack, hits."""
    n = len(caption_emb)
    targets = np.arange(n)
    m: dict[str, float] = {}
    rows = []
    for label, emb in image_emb.items():
        if len(emb) != n:
            raise ValueError(
                f"clip images: {len(emb)} image embeddings for {n} captions (attack {label!r})"
            )
        i2t = recall_at_k(emb, caption_emb, targets, ks)
        t2i = recall_at_k(caption_emb, emb, targets, ks)
        name = "clip_img" if label == "identity" else f"clip_img_{label}"
        for k in ks:
            m[f"{name}_i2t_r{k}"] = float(i2t[k].mean())
            m[f"{name}_t2i_r{k}"] = float(t2i[k].mean())
        for i in range(n):
            rows.append(
                {
                    "attack": label,
                    "image": i,
                    **{f"i2t_r{k}": i2t[k][i] for k in ks},
                    **{f"t2i_r{k}": t2i[k][i] for k in ks},
                }
            )
    attacked = [k for k in image_emb if k != "identity"]
    if attacked:
        for k in ks:
            m[f"clip_img_attacks_i2t_r{k}"] = float(
                np.mean([m[f"clip_img_{a}_i2t_r{k}"] for a in attacked])
            )
    return m, pd.DataFrame(rows)


def save_attack_gallery(images: list[np.ndarray], attacks: list, seed: int = 0, thumb: int = 96):
    """A matplotlib figure: one row per image, one column per attack (for the report)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cols = ["identity", *attacks]
    fig, axes = plt.subplots(
        len(images), len(cols), figsize=(1.2 * len(cols), 1.2 * len(images)), squeeze=False
    )
    for i, img in enumerate(images):
        small = _resize(img, (thumb, int(thumb * img.shape[1] / img.shape[0])))
        for j, spec in enumerate(cols):
            ax = axes[i][j]
            ax.imshow(apply_image_attack(spec, small, seed=seed + i))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(attack_label(spec), fontsize=7)
    fig.tight_layout()
    return fig


def shrink(img: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Downscale so the longer side is at most ``max_side`` (keeps attacks fast)."""
    h, w = img.shape[:2]
    scale = max_side / max(h, w)
    return img if scale >= 1 else _resize(img, (max(1, round(h * scale)), max(1, round(w * scale))))
