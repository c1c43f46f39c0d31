"""Models-from-code entry for ``relsafe-encoder`` (no pickles in the registry)."""

import mlflow

from relsafe.registry.encoder_pyfunc import EncoderPyfunc

mlflow.models.set_model(EncoderPyfunc())
