"""Lemmatise single words out of context with a spaCy pipeline's rule lemmatizer."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language


class WordLemmatizer:
    """Cached ``(word, pos) -> lemma`` lookups.

    Used where the tagger's own lemma is unusable: a participle tagged as a noun
    ("walking"), a noun tagged as a verb ("building"), or gold labels with no context.

    Args:
        nlp: a pipeline with a rule-based ``lemmatizer`` component.
    """

    def __init__(self, nlp: Language):
        self._vocab = nlp.vocab
        self._lemmatizer = (
            nlp.get_pipe("lemmatizer") if "lemmatizer" in nlp.component_names else None
        )
        self.lemma = lru_cache(maxsize=65536)(self._lemma)
        self._index = self._load_index()

    def _load_index(self) -> dict[str, frozenset[str]]:
        if self._lemmatizer is None:
            return {}
        try:
            table = self._lemmatizer.lookups.get_table("lemma_index")  # type: ignore[attr-defined]
        except (AttributeError, KeyError):
            return {}
        return {
            pos: frozenset(table[pos]) for pos in ("noun", "verb", "adj", "adv") if pos in table
        }

    def known(self, word: str, pos: str) -> bool:
        """Whether ``word`` is a listed lemma for ``pos`` ("noun", "verb", "adj", "adv")."""
        return word.lower() in self._index.get(pos, frozenset())

    def _lemma(self, word: str, pos: str) -> str:
        word = word.lower()
        if self._lemmatizer is None or not word:
            return word
        from spacy.tokens import Doc

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
