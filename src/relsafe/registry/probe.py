"""Probe a registered (pyfunc) model: the base and the edited outputs side by side.

Every relsafe pyfunc takes ``params={"base": True}`` for the unedited base model (DESIGN.md).

- LM / VLM (a ``prompt`` input): both responses, each labelled refusal / compliance / empty /
  degenerate by the evaluation's judge (:func:`relsafe.evaluation.judges.label_responses`).
- Encoder (a ``text`` input): the nearest gallery entries for each text, the gallery embedded
  by the frozen base as in the paired-retrieval evaluation (it stands in for images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class GalleryError(ValueError):
    """A gallery file that cannot be read or lacks the column; the message names both."""


def model_family(model) -> str:
    """``encoder`` (a ``text`` input), ``vlm`` (``prompt`` + ``image``) or ``causal_lm``."""
    schema = model.metadata.get_input_schema()
    names = set(schema.input_names()) if schema is not None else set()
    if "prompt" in names:
        return "vlm" if "image" in names else "causal_lm"
    if "text" in names or not names:
        return "encoder"
    raise ValueError(f"cannot probe a model with inputs {sorted(names)}; expected text or prompt")


def read_gallery(path: str | Path, column: str) -> list[str]:
    """Distinct non-empty texts of ``column`` in a csv / parquet / jsonl / json file, or the
    lines of a .txt file (no column there)."""
    path = Path(path)
    if not path.is_file():
        raise GalleryError(f"gallery file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".txt":
            texts = path.read_text(encoding="utf-8").splitlines()
        else:
            readers: dict[str, Callable[[Path], pd.DataFrame]] = {
                ".csv": pd.read_csv,
                ".parquet": pd.read_parquet,
                ".jsonl": lambda p: pd.read_json(p, lines=True),
                ".json": pd.read_json,
            }
            if suffix not in readers:
                raise GalleryError(
                    f"gallery file {path}: unknown format {suffix!r}; expected one of "
                    f"{sorted([*readers, '.txt'])}"
                )
            frame = readers[suffix](path)
            if column not in frame.columns:
                raise GalleryError(
                    f"gallery file {path} has no column {column!r} (columns: {list(frame.columns)}); "
                    "pick one with --column"
                )
            texts = frame[column].tolist()
    except GalleryError:
        raise
    except Exception as exc:  # a damaged or unreadable file
        raise GalleryError(f"gallery file {path} could not be read: {exc}") from exc
    out = [str(t).strip() for t in texts if isinstance(t, str) and str(t).strip()]
    out = list(dict.fromkeys(out))
    if not out:
        raise GalleryError(f"gallery file {path}: no non-empty text in {column!r}")
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def probe_encoder(
    model, texts: Sequence[str], gallery: Sequence[str], top_k: int
) -> list[dict[str, Any]]:
    """For each text, the ``top_k`` nearest gallery entries under the base and the edit."""
    g = _unit(model.predict(pd.DataFrame({"text": list(gallery)}), params={"base": True}))
    frame = pd.DataFrame({"text": list(texts)})
    sides = {
        side: _unit(model.predict(frame, params={"base": side == "base"}))
        for side in ("base", "edit")
    }
    out = []
    for i, text in enumerate(texts):
        row: dict[str, Any] = {"text": text}
        for side, q in sides.items():
            sims = g @ q[i]
            top = np.argsort(-sims, kind="stable")[:top_k]
            row[side] = [{"text": gallery[j], "cosine": round(float(sims[j]), 4)} for j in top]
        row["drift"] = round(float(1.0 - sides["base"][i] @ sides["edit"][i]), 4)
        out.append(row)
    return out


def probe_lm(
    model,
    prompts: Sequence[str],
    max_new_tokens: int,
    judge: Callable,
    degenerate: dict | None = None,
) -> list[dict[str, Any]]:
    """Base and edited responses with the judge's label for each."""
    from relsafe.evaluation.judges import label_responses

    frame = pd.DataFrame({"prompt": list(prompts)})
    out = [{"prompt": p} for p in prompts]
    for side in ("base", "edit"):
        params = {"base": side == "base", "max_new_tokens": int(max_new_tokens)}
        responses = [str(r) for r in model.predict(frame, params=params)["response"].tolist()]
        labels = label_responses(responses, judge, list(prompts), degenerate)
        for row, response, label in zip(out, responses, labels):
            row[side] = {"response": response, "label": label}
    return out


__all__ = ["GalleryError", "model_family", "probe_encoder", "probe_lm", "read_gallery"]
