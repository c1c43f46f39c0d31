"""Zero-shot relation recognition: does the (edited) text side still pick the right relation?

For a safe tuple (s, r, o), the gallery entry is the tuple in another syntax
(``realise(s, r, o, gallery_syntax)``, "a camera is being held by a man") embedded by the
frozen base (the stand-in for an image); the candidates ``realise(s, r', o)`` ("a man holding
a camera") for every candidate relation r' are embedded by the variant under test. No
candidate is the gallery text itself, so the base's accuracy is measured, not 1.0 by
construction. Correct when the true relation's candidate is the most similar. An edit that breaks "holding" or "drinking" in general (and
not only "a child drinking wine") shows here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from relsafe.evaluation.retrieval import cosine_matrix
from relsafe.policy.realise import realise

Encode = Callable[[list[str]], np.ndarray]


def relation_items(items: Sequence[Sequence[str]] | pd.DataFrame) -> pd.DataFrame:
    """Normalise items (``[[s, r, o], ...]`` from params, or a frame) to columns subject/relation/object."""
    if isinstance(items, pd.DataFrame):
        missing = {"subject", "relation", "object"} - set(items.columns)
        if missing:
            raise ValueError(f"relation items lack column(s) {sorted(missing)}")
        frame = items[["subject", "relation", "object"]].copy()
    else:
        bad = [i for i, it in enumerate(items) if len(it) != 3]
        if bad:
            raise ValueError(
                f"evaluate_edit.relation_recognition.items[{bad[0]}]: expected [subject, relation, object]"
            )
        frame = pd.DataFrame([list(it) for it in items], columns=["subject", "relation", "object"])
    frame = frame.astype(str).apply(lambda c: c.str.strip().str.lower())
    return frame.drop_duplicates().reset_index(drop=True)


GALLERY_SYNTAX = "passive_is"


def recognition_texts(
    items: pd.DataFrame, candidates: Sequence[str], gallery_syntax: str = GALLERY_SYNTAX
) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Gallery texts, candidate texts per item (true relation included) and the true index."""
    if gallery_syntax == "active":
        raise ValueError(
            "evaluate_edit.relation_recognition.gallery_syntax: 'active' is the candidates' "
            "syntax (the gallery would hold the true candidate's own text)"
        )
    gallery, cands, truth = [], [], []
    for s, r, o in items[["subject", "relation", "object"]].itertuples(index=False):
        rels = list(dict.fromkeys([*candidates, r]))
        gallery.append(realise(s, r, o, syntax=gallery_syntax))
        cands.append([realise(s, c, o) for c in rels])
        truth.append(rels.index(r))
    return gallery, cands, np.asarray(truth)


def relation_recognition(
    items: pd.DataFrame,
    candidates: Sequence[str],
    gallery_emb: np.ndarray,
    encode: Encode,
    gallery_syntax: str = GALLERY_SYNTAX,
) -> pd.DataFrame:
    """Per item: predicted relation and correctness; ``gallery_emb`` from the base model."""
    gallery, cands, truth = recognition_texts(items, candidates, gallery_syntax)
    if len(gallery_emb) != len(gallery):
        raise ValueError(
            f"relation recognition: {len(gallery_emb)} gallery embeddings for {len(gallery)} items"
        )
    flat = [t for group in cands for t in group]
    emb = encode(flat) if flat else np.zeros((0, gallery_emb.shape[1]))
    preds, start = [], 0
    for i, group in enumerate(cands):
        sims = cosine_matrix(gallery_emb[i : i + 1], emb[start : start + len(group)])[0]
        preds.append(int(sims.argmax()))
        start += len(group)
    out = items.copy()
    rels = [list(dict.fromkeys([*candidates, r])) for r in items["relation"]]
    out["predicted"] = [r[p] for r, p in zip(rels, preds)]
    out["correct"] = np.asarray(preds) == truth
    return out
