"""relsafe: relationship-aware safety unlearning for multimodal models."""

__version__ = "0.1.0"
