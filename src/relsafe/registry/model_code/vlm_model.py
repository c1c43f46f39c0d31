"""Models-from-code entry for ``relsafe-vlm`` (no pickles in the registry)."""

import mlflow

from relsafe.registry.vlm_pyfunc import VLMPyfunc

mlflow.models.set_model(VLMPyfunc())
