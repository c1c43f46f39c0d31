"""Kedro datasets specific to relsafe."""

from relsafe.datasets.adapter_dataset import AdapterDataset

__all__ = ["AdapterDataset"]
