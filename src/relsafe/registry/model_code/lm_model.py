"""Models-from-code entry for ``relsafe-lm`` (no pickles in the registry)."""

import mlflow

from relsafe.registry.lm_pyfunc import LMPyfunc

mlflow.models.set_model(LMPyfunc())
