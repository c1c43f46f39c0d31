"""Lemmatise single words out of context with a spaCy pipeline's rule lemmatizer."""

from __future__ import annotations

from functools import lru_cache

from spacy.language import Language
from spacy.tokens import Doc


class WordLemmatizer:
    """Cached ``(word, pos) -> lemma`` lookups.

    Used where the tagger's own lemma is unusable: a participle tagged as a noun
    ("walking"), a noun tagged as a verb ("building"), or gold labels with no context.

    Args:
        nlp: a pipeline with a rule-based ``lemmatizer`` component.
    """

    def __init__(self, nlp: Language):
        self._vocab = nlp.vocab
        self._lemmatizer = nlp.get_pipe("lemmatizer") if "lemmatizer" in nlp.component_names else None
        self.lemma = lru_cache(maxsize=65536)(self._lemma)

    def _lemma(self, word: str, pos: str) -> str:
        word = word.lower()
        if self._lemmatizer is None or not word:
            return word
        doc = Doc(self._vocab, words=[word], pos=[pos])
        try:
            lemmas = self._lemmatizer.rule_lemmatize(doc[0])  # type: ignore[attr-defined]
        except (AttributeError, KeyError, ValueError):
            return word
        return (lemmas[0] if lemmas else word).lower()

    def noun(self, word: str) -> str:
        """Noun lemma: ``"bushes" -> "bush"``."""
        return self.lemma(word, "NOUN")

    def verb(self, word: str) -> str:
        """Verb lemma: ``"drunk" -> "drink"``."""
        return self.lemma(word, "VERB")
