"""The fast paths give the same answers: lazy import, cached attributes, fragment rebuilds."""

from __future__ import annotations

import subprocess
import sys

from relsafe.oro.attributes import REPLACED, CachedAttributes
from relsafe.oro.extractor import prepare_text
from relsafe.oro.fragments import restructure

TEXTS = [
    "there is a dog on the grass",
    "y'all gon na see the man's hat",
    "a man ain't holding the kite",
    "let's go to the beach",
    "two zebras are grazing near the trees",
    "a boy and a girl eating and drinking juice and milk",
    "a woman who is riding a horse",
    "leaves on the pavement",
]


def test_import_does_not_load_spacy():
    code = "import sys, relsafe.oro; sys.exit('spacy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_cached_attributes_match_the_pipeline(extractor):
    nlp = extractor.nlp
    assert CachedAttributes.applies_to(nlp)
    cached = CachedAttributes(nlp)
    texts = [prepare_text(t) for t in TEXTS] * 2  # the second round is served from the cache
    real = [[(t.pos_, t.lemma_) for t in doc] for doc in nlp.pipe(texts)]
    fast = [
        [(t.pos_, t.lemma_) for t in cached(doc)] for doc in nlp.pipe(texts, disable=list(REPLACED))
    ]
    assert fast == real


def test_extractor_without_cache_agrees(extractor):
    from relsafe.oro import TupleExtractor

    plain = TupleExtractor(batch_size=8, cached_attributes=False)
    assert plain.attributes is None
    assert plain.extract(TEXTS) == extractor.extract(TEXTS)


def test_restructure_gives_one_tree_and_keeps_good_parses(extractor):
    nlp, lemmas = extractor.nlp, extractor.lemmas
    doc = nlp(prepare_text("a kid drinking vodka from a bottle"))
    rebuilt = restructure(doc, lemmas)
    assert rebuilt is not doc
    assert [t.text for t in rebuilt] == [t.text for t in doc]
    assert sum(t.head.i == t.i for t in rebuilt) == 1
    verb = rebuilt[2]
    assert (verb.pos_, verb.dep_, verb.head.text, verb.lemma_) == ("VERB", "acl", "kid", "drink")
    good = nlp(prepare_text("a man holding a baby"))
    assert restructure(good, lemmas) is good
