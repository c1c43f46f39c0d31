"""Model families behind one interface (:class:`~relsafe.families.base.Family`).

Each module of this package named like a ``model.family`` value (``encoder``,
``causal_lm``, ``vlm``) defines ``FAMILY``: how that family loads its base, trains (term
parsing, pools, step terms; the loop itself is shared), generates or embeds, evaluates, and
is logged as an MLflow pyfunc. Adding a family is one module here plus one conf environment
(``conf/<env>/``, with ``model.family`` and ``globals.yml``'s ``family``).
"""

from relsafe.families.base import (
    Family,
    PyfuncSpec,
    UnknownFamily,
    check_family,
    family_names,
    get_family,
)

__all__ = ["Family", "PyfuncSpec", "UnknownFamily", "check_family", "family_names", "get_family"]
