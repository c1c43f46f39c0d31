"""Captions -> object-relation-object tuples (spaCy dependency parsing)."""

from relsafe.oro.extractor import TupleExtractor
from relsafe.oro.rules import extract_from_doc
from relsafe.oro.spacy_model import load_spacy_model
from relsafe.oro.types import ORO

__all__ = ["ORO", "TupleExtractor", "extract_from_doc", "load_spacy_model"]
