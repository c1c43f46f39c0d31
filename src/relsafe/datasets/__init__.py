"""Kedro datasets specific to relsafe."""

from relsafe.datasets.adapter_dataset import AdapterDataset
from relsafe.datasets.optional_json import OptionalJSONDataset

__all__ = ["AdapterDataset", "OptionalJSONDataset"]
