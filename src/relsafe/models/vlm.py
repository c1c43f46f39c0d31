"""Vision-language models (image-text-to-text): offline loading, images in, greedy answers out.

Any Hugging Face model that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load:
LLaVA, Idefics3 / SmolVLM, Qwen2-VL, PaliGemma, Gemma 3. Text-only prompts go through the
processor's chat template with a single text part (no image), so the VLM's language model
sees what it sees in a conversation; image prompts put one image before the text.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from relsafe.models.sources import resolve_model_dir
from relsafe.timing import LoopEstimate

#: Set on the tokenizer of a VLM: render chat messages as content parts
#: (``[{"type": "text", ...}]``), which VLM chat templates expect.
CONTENT_PARTS_ATTR = "relsafe_content_parts"
#: Names under which VLMs keep their language model (in order of preference).
LANGUAGE_MODEL_NAMES = ("language_model", "text_model")
#: Names under which VLMs keep their vision tower and projector (frozen; checked in tests).
VISION_MODULE_NAMES = (
    "vision_tower",
    "vision_model",
    "visual",
    "multi_modal_projector",
    "connector",
)


@dataclass
class VLMConfig:
    """``model`` params for the vlm family."""

    name_or_path: str = "HuggingFaceTB/SmolVLM-256M-Instruct"
    processor: str | None = None  # defaults to name_or_path
    max_length: int = 256
    dtype: str = "float32"

    @classmethod
    def from_params(cls, params: dict) -> VLMConfig:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in params.items() if k in keys})


def load_vlm(cfg: VLMConfig, device: str | torch.device = "cpu") -> tuple[Any, Any]:
    """``(model, processor)`` loaded offline; the processor's tokenizer pads on the left and
    renders text-only chats with the processor's chat template."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model_dir = resolve_model_dir(cfg.name_or_path)
    proc_dir = resolve_model_dir(cfg.processor) if cfg.processor else model_dir
    processor = AutoProcessor.from_pretrained(proc_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=getattr(torch, cfg.dtype))
    tok = getattr(processor, "tokenizer", None)
    if tok is None:
        raise ValueError(
            f"model {cfg.name_or_path!r}: its processor has no tokenizer; not an image-text-to-text model"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # batched generation needs left padding
    template = getattr(processor, "chat_template", None)
    if template:
        tok.chat_template = template
    setattr(tok, CONTENT_PARTS_ATTR, True)
    model.eval()
    return model.to(device), processor


def language_model_prefix(model: torch.nn.Module) -> str:
    """The dotted name of the VLM's language model (decoder) inside ``model``.

    Found as the module that ``get_decoder()`` returns, else by its usual attribute names.

    Raises:
        ValueError: no language model was found (names the model class).
    """
    names = {id(m): n for n, m in model.named_modules()}
    get_decoder = getattr(model, "get_decoder", None)
    if get_decoder is not None:
        try:
            decoder = get_decoder()
        except (AttributeError, NotImplementedError):
            decoder = None
        if decoder is not None and names.get(id(decoder)):
            return names[id(decoder)]
    for name in names.values():
        if name.rsplit(".", 1)[-1] in LANGUAGE_MODEL_NAMES:
            return name
    raise ValueError(
        f"{type(model).__name__}: cannot find its language model (no get_decoder(), no "
        f"module named {LANGUAGE_MODEL_NAMES}); set train_edit.lora.target_modules"
    )


def text_config(model: torch.nn.Module):
    config = getattr(model, "config", None)
    return getattr(config, "text_config", None) or config


def vision_parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter of the vision tower and the projector (by name)."""
    return {
        n: p
        for n, p in model.named_parameters()
        if any(f".{v}." in f".{n}" or n.startswith(f"{v}.") for v in VISION_MODULE_NAMES)
    }


# --- images ------------------------------------------------------------------------------


class ImageDecodeError(ValueError):
    """An ``image`` value that is neither a readable file nor a base64-encoded image."""


def decode_image(value: Any, row: int | None = None):
    """A PIL RGB image from a base64 string (optionally a ``data:image/...;base64,`` URL), a
    file path, raw bytes or a PIL image; None (or NaN / empty) for no image.

    Raises:
        ImageDecodeError: naming the row and why.
    """
    from PIL import Image, UnidentifiedImageError

    where = f"row {row}: " if row is not None else ""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("data:"):
            text = text.split(",", 1)[-1]
        path = Path(text).expanduser() if len(text) < 4096 else None
        if path is not None and path.is_file():
            try:
                with Image.open(path) as img:
                    return img.convert("RGB")
            except (OSError, UnidentifiedImageError) as exc:
                raise ImageDecodeError(
                    f"{where}image file {str(path)!r} is not a readable image ({exc})"
                ) from exc
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            hint = "no such file" if path is not None else "too long for a path"
            raise ImageDecodeError(
                f"{where}image {text[:40]!r} is neither a file path ({hint}) nor base64 ({exc})"
            ) from exc
        value = data
    if isinstance(value, (bytes, bytearray)):
        try:
            with Image.open(io.BytesIO(value)) as img:
                return img.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise ImageDecodeError(f"{where}image bytes are not a readable image ({exc})") from exc
    raise ImageDecodeError(
        f"{where}image must be a base64 PNG, a file path or None (got {type(value).__name__})"
    )


def encode_png(image) -> str:
    """A PIL image as a base64 PNG string (what the ``relsafe-vlm`` pyfunc accepts)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# --- generation --------------------------------------------------------------------------


def image_chat(processor, prompt: str) -> str:
    """One user turn with an image then the text, rendered with the processor's template."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


@torch.no_grad()
def generate_vlm(
    model,
    processor,
    prompts: list[str],
    images: list | None = None,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    progress: bool = True,
) -> list[str]:
    """Greedy answers, one per prompt, in order; ``images[i]`` (a PIL image or None) goes
    with ``prompts[i]``. Text-only rows are batched apart from image rows."""
    from relsafe.models.causal_lm import generate_responses

    images = list(images) if images is not None else [None] * len(prompts)
    if len(images) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(images)} images")
    tok = processor.tokenizer
    out: list[str | None] = [None] * len(prompts)
    text_rows = [i for i, img in enumerate(images) if img is None]
    if text_rows:
        answers = generate_responses(
            model,
            tok,
            [prompts[i] for i in text_rows],
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            progress=progress,
        )
        for i, a in zip(text_rows, answers):
            out[i] = a
    image_rows = [i for i, img in enumerate(images) if img is not None]
    model.eval()
    estimate = LoopEstimate(
        "generate (images)", math.ceil(len(image_rows) / batch_size), unit="batch"
    )
    for start in tqdm(
        range(0, len(image_rows), batch_size), desc="generate (images)", disable=not progress
    ):
        rows = image_rows[start : start + batch_size]
        batch = processor(
            text=[image_chat(processor, prompts[i]) for i in rows],
            images=[[images[i]] for i in rows],
            return_tensors="pt",
            padding=True,
        ).to(model.device)
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
        gen = model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
        texts = tok.batch_decode(gen[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        for i, t in zip(rows, texts):
            out[i] = t.strip()
        estimate.tick()
    return [o or "" for o in out]
