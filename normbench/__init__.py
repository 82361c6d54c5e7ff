"""normbench: interchangeable normalization layers (DyT, LayerNorm, RMSNorm, BatchNorm, ...) and
the training loop, run folders and studies that reproduce "Transformers without Normalization"."""

__version__ = "0.1.0"
