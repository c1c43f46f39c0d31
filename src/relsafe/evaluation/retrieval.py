"""Retrieval and drift metrics for edited text encoders.

The gallery is embedded by the frozen base (in textual unlearning the image tower, or any
consumer of the embeddings, stays frozen); queries are embedded by the edited model. An
unsafe query that no longer retrieves its own gallery entry has been suppressed.
"""

from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def cosine_matrix(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Cosine similarity of every query to every gallery row, ``[n_queries, n_gallery]``."""
    return _unit(queries) @ _unit(gallery).T


def target_rank(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of ``gallery[targets[i]]`` for query i (ties count in the query's favour)."""
    sims = cosine_matrix(queries, gallery)
    target_sim = sims[np.arange(len(queries)), targets][:, None]
    return (sims > target_sim).sum(axis=1)


def recall_at_k(
    queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray, ks: tuple[int, ...] = (1, 5)
) -> dict[int, np.ndarray]:
    """Per-query hit (0/1) for each k: is ``gallery[targets[i]]`` in the top-k of query i?"""
    rank = target_rank(queries, gallery, targets)
    return {k: (rank < k).astype(float) for k in ks}


def top1(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Index of the best gallery row for each query."""
    return cosine_matrix(queries, gallery).argmax(axis=1)


def drift(edited: np.ndarray, base: np.ndarray) -> np.ndarray:
    """1 - cosine(edited, base) per row."""
    return np.clip(1.0 - (_unit(edited) * _unit(base)).sum(axis=1), 0.0, 2.0)
