"""Caption -> O-R-O tuples, streamed through spaCy in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from relsafe.oro.attributes import REPLACED, CachedAttributes
from relsafe.oro.lemmas import WordLemmatizer
from relsafe.oro.rules import extract_from_doc
from relsafe.oro.spacy_model import load_spacy_model
from relsafe.oro.types import ORO

if TYPE_CHECKING:  # spaCy is imported only when a model is loaded
    from spacy.language import Language

__all__ = ["TupleExtractor", "extract_from_doc"]


def prepare_text(text: object) -> str:
    """Trim a caption and end it with a full stop, which steadies the parse of fragments."""
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split())
    if text and text[-1].isalnum():
        text += " ."
    return text


class TupleExtractor:
    """Extract O-R-O tuples from texts.

    Args:
        model: spaCy pipeline name; ``None`` picks the packaged en_core_web_sm.
        batch_size: texts per ``nlp.pipe`` batch.
        n_process: spaCy worker processes (1 = in-process).
        cached_attributes: replace the pipeline's attribute_ruler and lemmatizer by
            :class:`~relsafe.oro.attributes.CachedAttributes` (same POS and lemmas, faster).
    """

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 256,
        n_process: int = 1,
        cached_attributes: bool = True,
    ):
        self.nlp: Language = load_spacy_model(model)
        self.lemmas = WordLemmatizer(self.nlp)
        self.batch_size = batch_size
        self.n_process = n_process
        self.attributes = (
            CachedAttributes(self.nlp)
            if cached_attributes and CachedAttributes.applies_to(self.nlp)
            else None
        )

    def extract(self, texts: Iterable[str]) -> list[list[ORO]]:
        """One list of tuples per input text, in input order."""
        return list(self.iter_extract(texts))

    def iter_extract(self, texts: Iterable[str]) -> Iterator[list[ORO]]:
        """Stream tuples lazily; only one batch of Docs is alive at a time."""
        attributes = self.attributes
        docs = self.nlp.pipe(
            (prepare_text(t) for t in texts),
            batch_size=self.batch_size,
            n_process=self.n_process,
            disable=list(REPLACED) if attributes else [],
        )
        for doc in docs:
            if attributes is not None:
                doc = attributes(doc)
            yield extract_from_doc(doc, self.lemmas)
