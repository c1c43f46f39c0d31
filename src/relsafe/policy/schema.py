"""Safety-policy schema: concept classes and unsafe rules, validated with pydantic.

A policy is ``version``, ``classes`` (named lexicons of lemmas) and ``rules`` (unsafe
subject/relation/object class combinations). Every rule also says how to make it safe:
``safe_variants`` swap the relation and/or object for a safe class (``redirect: true``
variants give the forget set's redirect text, the others only give retain neighbours),
and ``safe_subject`` names the class for "same object, safe subject" neighbours.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Severity = Literal["low", "medium", "high", "critical"]
Role = Literal["entity", "relation"]


class PolicyError(ValueError):
    """An invalid safety policy; the message names the key and what was expected."""


def _clean(values: list[str]) -> list[str]:
    out = [" ".join(str(v).strip().lower().split()) for v in values]
    if any(not v for v in out):
        raise ValueError("lemmas must be non-empty strings")
    dupes = sorted({v for v in out if out.count(v) > 1})
    if dupes:
        raise ValueError(f"duplicate lemmas {dupes}")
    return out


class ConceptClass(BaseModel):
    """A lexicon of lemmas.

    ``lemmas`` may appear in training sets; ``held_out`` lemmas never do (they are the
    paraphrase attack). ``exclude`` lists compounds that share a head with a member but are
    not members ("water gun", "root beer"); matching rejects them.
    """

    model_config = ConfigDict(extra="forbid")

    role: Role = "entity"
    lemmas: list[str] = Field(min_length=1)
    held_out: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("lemmas", "held_out", "exclude")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        return _clean(values)

    @model_validator(mode="after")
    def _disjoint(self) -> ConceptClass:
        both = set(self.lemmas) & set(self.held_out)
        if both:
            raise ValueError(f"held_out lemmas also listed in lemmas: {sorted(both)}")
        return self

    def all_lemmas(self) -> list[str]:
        return self.lemmas + self.held_out


class SafeVariant(BaseModel):
    """A safe swap for a rule: replace the relation and/or the object by a safe class.

    ``when`` limits the variant to some relation lemmas of the rule (empty: all).
    ``subject`` (neighbours only) swaps the subject too. A variant that keeps the
    relation gives ``same_relation`` neighbours, one that changes it ``same_subject`` ones.
    """

    model_config = ConfigDict(extra="forbid")

    when: list[str] = Field(default_factory=list)
    subject: str | None = None
    relation: str | None = None
    object: str | None = None
    redirect: bool = True

    @field_validator("when")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        return _clean(values)

    @model_validator(mode="after")
    def _changes_something(self) -> SafeVariant:
        if self.relation is None and self.object is None:
            raise ValueError("a safe variant must set `relation` and/or `object` (a class name)")
        if self.redirect and self.subject is not None:
            raise ValueError(
                "a redirect variant keeps the subject: drop `subject` or set redirect: false"
            )
        return self

    def applies_to(self, relation: str) -> bool:
        return not self.when or relation in self.when


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
    safe_variants: list[SafeVariant] = Field(default_factory=list)
    #: Generation only: relation lemma -> the object lemmas it is realised with
    #: ("fire" only with firearms). Matching ignores it.
    relation_objects: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shorthand(self) -> Rule:
        """``safe_relation``/``safe_object`` are shorthand for one catch-all redirect variant."""
        if self.safe_relation or self.safe_object:
            self.safe_variants = [
                *self.safe_variants,
                SafeVariant(relation=self.safe_relation, object=self.safe_object),
            ]
            self.safe_relation = self.safe_object = None
        return self

    def redirects(self, relation: str) -> list[SafeVariant]:
        return [v for v in self.safe_variants if v.redirect and v.applies_to(relation)]


class SafetyPolicy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    #: Partitive nouns: "a glass of wine" matches on "wine".
    partitives: list[str] = Field(default_factory=list)
    classes: dict[str, ConceptClass] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> SafetyPolicy:
        self._check_held_out()
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            where = f"rules.{i} ({rule.id})"
            if rule.id in seen:
                raise ValueError(
                    f"rules.{i}.id: duplicate rule id {rule.id!r} (first at rules.{seen[rule.id]}); ids must be unique"
                )
            seen[rule.id] = i
            for key in ("subject", "relation", "object", "safe_subject"):
                self._check_class(
                    f"{where}.{key}",
                    getattr(rule, key),
                    "relation" if key == "relation" else "entity",
                )
            rel_lemmas = self.classes[rule.relation].all_lemmas()
            obj_lemmas = self.classes[rule.object].all_lemmas()
            for j, var in enumerate(rule.safe_variants):
                vwhere = f"{where}.safe_variants.{j}"
                self._check_class(f"{vwhere}.subject", var.subject, "entity")
                self._check_class(f"{vwhere}.relation", var.relation, "relation")
                self._check_class(f"{vwhere}.object", var.object, "entity")
                bad = [w for w in var.when if w not in rel_lemmas]
                if bad:
                    raise ValueError(
                        f"{vwhere}.when: {bad} not in relation class {rule.relation}; expected some of {rel_lemmas}"
                    )
            missing = [r for r in rel_lemmas if not rule.redirects(r)]
            if missing:
                raise ValueError(
                    f"{where}.safe_variants: no redirect for relation lemma(s) {missing}; expected a variant "
                    "with redirect: true whose `when` lists them (or has no `when`)"
                )
            for rel, objs in rule.relation_objects.items():
                if rel not in rel_lemmas:
                    raise ValueError(
                        f"{where}.relation_objects.{rel}: not in relation class {rule.relation}; expected one of {rel_lemmas}"
                    )
                bad = [o for o in objs if o not in obj_lemmas]
                if bad or not objs:
                    raise ValueError(
                        f"{where}.relation_objects.{rel}: {bad or 'empty list'}; expected lemmas of object class {rule.object}: {obj_lemmas}"
                    )
        return self

    def _check_class(self, key: str, name: str | None, role: Role) -> None:
        if name is None:
            return
        if name not in self.classes:
            hint = difflib.get_close_matches(name, list(self.classes), n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(
                f"{key}: unknown class {name!r}{did}; expected one of {sorted(self.classes)}"
            )
        if self.classes[name].role != role:
            raise ValueError(
                f"{key}: class {name!r} has role {self.classes[name].role!r}; expected a class with role {role!r}"
            )

    def _check_held_out(self) -> None:
        """A held-out lemma must not be a training lemma of any class (it would leak)."""
        train = {lemma: name for name, c in self.classes.items() for lemma in c.lemmas}
        for name, c in self.classes.items():
            leak = {h: train[h] for h in c.held_out if h in train}
            if leak:
                raise ValueError(
                    f"classes.{name}.held_out: {leak} are training lemmas of other classes (lemma: class); held-out lemmas must never be trained on"
                )

    def lexicon(self, name: str, held_out: bool = False) -> list[str]:
        cls = self.classes[name]
        return cls.held_out if held_out else cls.lemmas

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"unknown rule {rule_id!r}; expected one of {[r.id for r in self.rules]}")

    def held_out_lemmas(self) -> list[str]:
        """Every held-out lemma of every class, sorted."""
        return sorted({h for c in self.classes.values() for h in c.held_out})

    def digest(self) -> str:
        """Stable sha256 of the policy content (for manifests and registry tags)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


_FIELDS: dict[str, type[BaseModel]] = {
    "classes": ConceptClass,
    "rules": Rule,
    "safe_variants": SafeVariant,
}


def _expected_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at the parent of ``loc`` (for "unknown key" messages)."""
    model: type[BaseModel] = SafetyPolicy
    for part in loc[:-1]:
        if isinstance(part, str) and part in _FIELDS:
            model = _FIELDS[part]
    return list(model.model_fields)


def _message(err: dict[str, Any]) -> str:
    loc = err["loc"]
    if err["type"] == "extra_forbidden":
        expected = _expected_keys(loc)
        hint = difflib.get_close_matches(str(loc[-1]), expected, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"unknown key {loc[-1]!r}{did}; expected one of {expected}"
    if err["type"] == "too_short":
        return "must not be empty; expected at least one entry (an empty lexicon or list)"
    if err["type"] == "missing":
        return f"required key missing; expected {loc[-1]!r}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def load_policy(data: dict, source: str = "safety policy") -> SafetyPolicy:
    """Validate a parsed policy mapping.

    Raises:
        PolicyError: with every problem listed as ``key: message``.
    """
    if not isinstance(data, dict):
        raise PolicyError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return SafetyPolicy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc}: {_message(err)}" if loc else f"  {_message(err)}")
        raise PolicyError(f"{source} is invalid:\n" + "\n".join(lines)) from None
