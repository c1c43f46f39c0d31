"""Check and clean raw caption values before parsing.

Every value gets a cleaned text (possibly empty) and a status: ``ok`` or the reasons it was
changed (``html stripped``, ``symbols removed``, ``truncated``) or skipped (``missing``,
``empty``, ``not a string (int)``, ``non-english``).
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from dataclasses import dataclass

#: Captions longer than this are truncated before parsing (and flagged).
DEFAULT_MAX_CHARS = 1000

#: Statuses whose rows are not parsed at all.
SKIPPED = ("missing", "empty", "not a string", "non-english")

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

_ENGLISH = frozenset(
    [
        "a",
        "an",
        "the",
        "on",
        "in",
        "of",
        "with",
        "and",
        "is",
        "are",
        "at",
        "to",
        "by",
        "near",
        "next",
        "behind",
        "under",
        "over",
        "his",
        "her",
        "its",
        "their",
        "this",
        "that",
        "there",
        "for",
        "from",
        "front",
        "top",
        "side",
        "holding",
        "wearing",
        "sitting",
        "standing",
    ]
)
_FOREIGN = frozenset(
    [
        "le",
        "la",
        "les",
        "des",
        "du",
        "une",
        "est",
        "sur",
        "avec",
        "dans",
        "et",
        "el",
        "los",
        "las",
        "una",
        "con",
        "del",
        "por",
        "y",
        "und",
        "der",
        "die",
        "das",
        "ein",
        "eine",
        "mit",
        "auf",
        "ist",
        "il",
        "di",
        "che",
        "della",
        "sono",
        "um",
        "uma",
        "com",
        "não",
        "para",
        "het",
        "een",
        "op",
        "van",
        "en",
        "och",
        "på",
        "är",
        "och",
        "ett",
        "av",
    ]
)


@dataclass(frozen=True)
class CleanCaption:
    """A caption ready to parse (``text`` is empty when the row is skipped)."""

    text: str
    status: str

    @property
    def skipped(self) -> bool:
        """True when the row is not parsed."""
        return self.status.startswith(SKIPPED)


def clean_caption(value: object, max_chars: int = DEFAULT_MAX_CHARS) -> CleanCaption:
    """Check one raw caption value and return the text to parse with its status."""
    problem = caption_problem(value)
    if problem:
        return CleanCaption("", problem)
    text = str(value)
    notes: list[str] = []
    if len(text) > max_chars * 4:  # bound the work of the regexes below
        text = text[: max_chars * 4]
    if "\ufffd" in text:  # bytes that were not valid UTF-8 (read with encoding_errors=replace)
        text = text.replace("\ufffd", " ")
        notes.append("invalid bytes replaced")
    if "<" in text and _TAG.search(text):
        text = _TAG.sub(" ", text)
        notes.append("html stripped")
    if "&" in text:
        text = html.unescape(text)
    stripped = _strip_symbols(text)
    if stripped != text:
        text = stripped
        notes.append("symbols removed")
    text = _SPACE.sub(" ", text).strip()
    if not text or not any(ch.isalnum() for ch in text):
        return CleanCaption("", "empty")
    if not looks_english(text):
        return CleanCaption("", "non-english")
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
        notes.append("truncated")
    return CleanCaption(text, "; ".join(notes) or "ok")


def caption_problem(value: object, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """Why a raw value cannot be parsed at all, or ``None`` when it is a usable string."""
    del max_chars  # kept for backwards compatibility; truncation is not a problem
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if not isinstance(value, str):
        try:
            import pandas as pd

            if pd.isna(value):  # type: ignore[arg-type]
                return "missing"
        except (TypeError, ValueError):
            pass
        return f"not a string ({type(value).__name__})"
    if not value.strip():
        return "empty"
    return None


def looks_english(text: str) -> bool:
    """Cheap script and function-word test; short or mixed captions count as English."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return False
    non_latin = sum(1 for ch in letters if not _is_latin(ch))
    if non_latin / len(letters) > 0.3:
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    english = sum(w in _ENGLISH for w in words)
    foreign = sum(w in _FOREIGN and w not in _ENGLISH for w in words)
    return not (foreign >= 2 and foreign > english)


def _is_latin(ch: str) -> bool:
    if ch.isascii():
        return True
    try:
        return unicodedata.name(ch).startswith("LATIN")
    except ValueError:
        return False


def _strip_symbols(text: str) -> str:
    """Drop emoji, pictographs, control and private-use characters."""
    if text.isascii():
        return "".join(ch if ch.isprintable() else " " for ch in text)
    keep = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in {"So", "Sk", "Cs", "Co", "Cn", "Cc", "Cf"} and ch not in "\t\n":
            keep.append(" ")
        else:
            keep.append(ch)
    return "".join(keep)
