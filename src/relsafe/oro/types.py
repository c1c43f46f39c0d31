"""The O-R-O tuple record."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ORO:
    """One object-relation-object tuple.

    ``subject``, ``relation`` and ``object`` are lemmatised and lower-case; arguments keep
    their compound modifiers ("train track") and multiword relations keep their particle or
    preposition ("sit on"). ``subject_head``/``object_head`` are the head-noun lemmas that
    policy matching falls back to.
    """

    subject: str
    relation: str
    object: str
    negated: bool = False
    subject_head: str = ""
    object_head: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ORO:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)

    def text(self) -> str:
        """A plain-text rendering, e.g. ``"child drink wine"``."""
        neg = "not " if self.negated else ""
        return f"{self.subject} {neg}{self.relation} {self.object}"
