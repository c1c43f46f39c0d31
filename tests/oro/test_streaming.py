"""Extraction streams: it reads input lazily and keeps no Docs around."""

from __future__ import annotations

import gc
import itertools
import tracemalloc

from spacy.tokens import Doc


def _captions():
    for i in itertools.count():
        yield f"a man number {i % 7} sitting on a bench next to a dog"


def test_iter_extract_is_lazy(extractor):
    consumed = 0

    def counting():
        nonlocal consumed
        for text in _captions():  # endless: a list would never finish
            consumed += 1
            yield text

    results = extractor.iter_extract(counting())
    first = list(itertools.islice(results, 10))
    assert len(first) == 10 and all(first)
    assert consumed <= 4 * extractor.batch_size


def test_no_docs_kept(extractor):
    for _ in extractor.iter_extract(itertools.islice(_captions(), 300)):
        pass
    gc.collect()
    assert sum(isinstance(o, Doc) for o in gc.get_objects()) < extractor.batch_size


def test_memory_flat_as_corpus_grows(extractor):
    def peak(n: int) -> int:
        gc.collect()
        tracemalloc.start()
        for _ in extractor.iter_extract(itertools.islice(_captions(), n)):
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(200)  # warm caches
    small, large = peak(200), peak(800)
    assert large < small * 1.5 + 2_000_000
