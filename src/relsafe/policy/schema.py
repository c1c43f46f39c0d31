"""Safety-policy schema: concept classes and unsafe rules, validated with pydantic."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Severity = Literal["low", "medium", "high", "critical"]


class PolicyError(ValueError):
    """An invalid safety policy; the message names the key and what was expected."""


class ConceptClass(BaseModel):
    """A lexicon of lemmas. ``held_out`` lemmas are reserved for evaluation only."""

    model_config = ConfigDict(extra="forbid")

    lemmas: list[str] = Field(min_length=1)
    held_out: list[str] = Field(default_factory=list)

    @field_validator("lemmas", "held_out")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        out = [v.strip().lower() for v in values]
        if any(not v for v in out):
            raise ValueError("lemmas must be non-empty strings")
        return out

    @model_validator(mode="after")
    def _disjoint(self) -> ConceptClass:
        both = set(self.lemmas) & set(self.held_out)
        if both:
            raise ValueError(f"held_out lemmas also listed in lemmas: {sorted(both)}")
        return self


class Rule(BaseModel):
    """An unsafe (subject class, relation class, object class) combination."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str = ""
    subject: str
    relation: str
    object: str
    category: str
    severity: Severity
    safe_subject: str | None = None
    safe_relation: str | None = None
    safe_object: str | None = None


class SafetyPolicy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    classes: dict[str, ConceptClass] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> SafetyPolicy:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"rules[{i}].id: duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            for key in ("subject", "relation", "object", "safe_subject", "safe_relation", "safe_object"):
                name = getattr(rule, key)
                if name is not None and name not in self.classes:
                    raise ValueError(
                        f"rules[{i}] ({rule.id}).{key}: unknown class {name!r}; "
                        f"expected one of {sorted(self.classes)}"
                    )
        return self

    def lexicon(self, name: str, held_out: bool = False) -> list[str]:
        cls = self.classes[name]
        return cls.held_out if held_out else cls.lemmas

    def digest(self) -> str:
        """Stable sha256 of the policy content (for manifests and registry tags)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def load_policy(data: dict, source: str = "safety policy") -> SafetyPolicy:
    """Validate a parsed policy mapping.

    Raises:
        PolicyError: with every problem listed as ``key: message``.
    """
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return SafetyPolicy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            lines.append(f"  {loc}: {err['msg']}")
        raise PolicyError(f"{source} is invalid:\n" + "\n".join(lines)) from None
