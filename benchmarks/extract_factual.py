"""Benchmark O-R-O extraction against SceneGraphParser on FACTUAL captions.

Scores relation triples and (subject, object) pairs with the convention of the project's
data README, and times both extractors on the same captions.

Usage::

    python benchmarks/extract_factual.py                       # dev split bundled here
    python benchmarks/extract_factual.py --corpus data/01_raw/factual_captions.csv
    python benchmarks/extract_factual.py --corpus train.csv --limit 5000 --no-peer
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from relsafe.oro import TupleExtractor
from relsafe.oro.scoring import Normalizer, parse_scene_graph, score

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "factual_dev_graphs.csv"
Triples = list[tuple[str, str, str]]


def load_captions(path: Path, column: str, limit: int | None) -> pd.DataFrame:
    """Read the corpus, keeping the caption column (and gold graphs when present)."""
    try:
        frame = pd.read_csv(path, nrows=limit)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read corpus {path}: {exc}") from exc
    if column not in frame.columns:
        raise SystemExit(f"{path}: caption column {column!r} not found; have {list(frame.columns)}")
    return frame


def run_ours(
    extractor: TupleExtractor, captions: Sequence[str]
) -> tuple[list[Triples], float, float]:
    """Our triples (negated ones dropped: the gold has none), wall and CPU seconds.

    CPU seconds (this process, all threads) stay meaningful on a machine shared with other
    jobs, where wall time mostly measures the load.
    """
    start, cpu = time.perf_counter(), time.process_time()
    out = [
        [(t.subject, t.relation, t.object) for t in tuples if not t.negated]
        for tuples in extractor.iter_extract(captions)
    ]
    return out, time.perf_counter() - start, time.process_time() - cpu


def make_peer(model: str) -> Callable[[str], Triples]:
    """SceneGraphParser's relations as (subject, relation, object) triples."""
    import sng_parser

    parser = sng_parser.Parser("spacy", model=model)

    def parse(text: str) -> Triples:
        graph = parser.parse(text)
        ents = graph["entities"]
        return [
            (ents[r["subject"]]["lemma_head"], r["lemma_relation"], ents[r["object"]]["lemma_head"])
            for r in graph["relations"]
        ]

    return parse


def run_peer(
    parse: Callable[[str], Triples], captions: Sequence[str]
) -> tuple[list[Triples], float]:
    """Peer triples and wall seconds."""
    start = time.perf_counter()
    out = [parse(text) for text in captions]
    return out, time.perf_counter() - start


def report(
    name: str,
    preds: list[Triples] | None,
    gold: list[Triples] | None,
    norm: Normalizer,
    n: int,
    secs: float,
    cpu_secs: float | None = None,
) -> float:
    """Print one extractor's scores and throughput; return captions per (wall) second."""
    rate = n / secs if secs else float("inf")
    line = f"{name}: {n} captions in {secs:.1f} s = {rate:,.0f} captions/s"
    if cpu_secs:
        line += f" (CPU {cpu_secs:.1f} s = {n / cpu_secs:,.0f} captions/CPU-s)"
    print(line)
    if preds is not None and gold is not None:
        triple, pair = score(preds, gold, norm)
        print(
            f"  triple {triple.line()}  (tp {triple.tp}, pred {triple.n_pred}, gold {triple.n_gold})"
        )
        print(f"  pair   {pair.line()}  (tp {pair.tp}, pred {pair.n_pred}, gold {pair.n_gold})")
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run both extractors, print scores and throughputs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="CSV with a caption column")
    ap.add_argument("--column", default="caption")
    ap.add_argument("--limit", type=int, default=None, help="first N rows only")
    ap.add_argument(
        "--model", default=None, help="spaCy pipeline (default: packaged en_core_web_sm)"
    )
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--n-process", type=int, default=1)
    ap.add_argument("--no-peer", action="store_true", help="skip SceneGraphParser")
    args = ap.parse_args(argv)
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

    frame = load_captions(args.corpus, args.column, args.limit)
    captions = [c if isinstance(c, str) else "" for c in frame[args.column]]
    gold = [parse_scene_graph(s) for s in frame["scene_graph"]] if "scene_graph" in frame else None
    print(f"corpus {args.corpus} ({len(captions)} captions, gold graphs: {gold is not None})")

    extractor = TupleExtractor(
        model=args.model, batch_size=args.batch_size, n_process=args.n_process
    )
    norm = Normalizer(extractor.nlp)
    extractor.extract(captions[:200])  # warm-up: first-call allocations are not throughput
    preds, secs, cpu_secs = run_ours(extractor, captions)
    ours = report("relsafe.oro", preds, gold, norm, len(captions), secs, cpu_secs)
    if hasattr(os, "getloadavg"):
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    if not args.no_peer:
        peer_model = args.model or extractor.nlp.meta.get("name", "core_web_sm")
        peer_model = peer_model if peer_model.startswith("en_") else f"en_{peer_model}"
        parse = make_peer(peer_model)
        for text in captions[:20]:
            parse(text)
        peer_preds, peer_secs = run_peer(parse, captions)
        peer = report("SceneGraphParser", peer_preds, gold, norm, len(captions), peer_secs)
        print(f"throughput ratio relsafe.oro / SceneGraphParser = {ours / peer:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
