"""normbench: interchangeable normalization layers (DyT, LayerNorm, RMSNorm, BatchNorm, ...) and
the training loop, run folders and studies that reproduce "Transformers without Normalization"."""

__version__ = "0.1.0"

# normbench.convert(model, "dyt", **options): the norm layers of any model, replaced in place
# (the function lives in normbench/conversion.py: no function hides a module of its name).
# Its module imports torch and timm only when it is called.
from normbench.conversion import convert  # noqa: E402

__all__ = ["__version__", "convert"]
