"""Cached stand-in for spaCy's ``attribute_ruler`` + ``lemmatizer`` (about a quarter of the
parse time on captions).

Both components map a token to its coarse POS and lemma from its text, fine tag and
dependency label, plus a neighbour for a few fixed phrases ("gon na", "there is"). Captions
reuse a small vocabulary, so :class:`CachedAttributes` runs the real components only on
Docs holding a token it has not seen (and remembers their results), and copies cached results
onto every other Doc. Morphological features are not written (the extraction rules never read them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

#: Components this class replaces, in pipeline order.
REPLACED: tuple[str, ...] = ("attribute_ruler", "lemmatizer")

# Words whose attributes the rules of the English attribute_ruler tie to a neighbour.
_NEEDS_NEXT = frozenset({"ai", "gon", "c'm", "y", "y'"})
_NEEDS_PREV = frozenset({"na", "ta", "'s", "all", "n't", "nt"})
_COPULAS = frozenset({"is", "are", "was", "were", "'s", "'re"})


class CachedAttributes:
    """Write POS and lemma onto parsed Docs from a per-key cache.

    Args:
        nlp: the pipeline whose ``attribute_ruler`` and ``lemmatizer`` are replaced.
        max_entries: the cache is cleared when it grows past this.
    """

    def __init__(self, nlp: Language, max_entries: int = 500_000):
        self._vocab = nlp.vocab
        self._components = [nlp.get_pipe(name) for name in REPLACED if name in nlp.pipe_names]
        self._cache: dict[tuple, tuple[int, int]] = {}
        self._max = max_entries

    @staticmethod
    def applies_to(nlp: Language) -> bool:
        """Whether ``nlp`` has both components (and nothing after them that reads them)."""
        names = list(nlp.pipe_names)
        return all(n in names for n in REPLACED) and names[-len(REPLACED) :] == list(REPLACED)

    def __call__(self, doc: Doc) -> Doc:
        tokens = list(doc)
        keys = [self._key(tokens, i) for i in range(len(tokens))]
        get = self._cache.get
        found = [get(key) for key in keys]
        if None in found:  # run the real components on this Doc and remember the results
            for component in self._components:
                doc = component(doc)
            if len(self._cache) + len(keys) > self._max:
                self._cache.clear()
            self._cache.update(zip(keys, ((t.pos, t.lemma) for t in doc)))
            return doc
        for token, (pos, lemma) in zip(tokens, found):
            token.pos = pos
            token.lemma = lemma
        return doc

    @staticmethod
    def _key(tokens: list, i: int) -> tuple:
        """What the components' output for token ``i`` depends on."""
        token = tokens[i]
        lower = token.lower_
        if lower in _NEEDS_NEXT:
            ctx: object = tokens[i + 1].lower_ if i + 1 < len(tokens) else ""
        elif lower in _NEEDS_PREV:
            ctx = tokens[i - 1].lower_ if i else ""
        elif lower in _COPULAS:
            ctx = i > 0 and tokens[i - 1].dep_ == "expl"
        else:
            ctx = None
        return (token.orth, token.tag, token.dep, ctx)
