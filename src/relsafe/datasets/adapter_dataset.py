"""A Kedro dataset for a LoRA adapter folder (safetensors + configs), written atomically."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from relsafe.editing.adapter_io import AdapterBundle


class AdapterDataset(AbstractDataset[AdapterBundle, AdapterBundle]):
    """``type: relsafe.datasets.AdapterDataset`` with ``path: data/06_models/encoder_adapter``."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = PurePosixPath(path)
        self.metadata = metadata

    def _load(self) -> AdapterBundle:
        try:
            return AdapterBundle.load(Path(self._path))
        except FileNotFoundError as exc:
            raise DatasetError(f"cannot load adapter from {self._path}: {exc}") from exc

    def _save(self, data: AdapterBundle) -> None:
        data.save(Path(self._path))

    def _exists(self) -> bool:
        return (Path(self._path) / "adapter_model.safetensors").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    load = _load
    save = _save
