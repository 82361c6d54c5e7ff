"""normbench: interchangeable normalization layers (DyT, LayerNorm, RMSNorm, BatchNorm, ...) and
the training loop, run folders and studies that reproduce "Transformers without Normalization"."""

__version__ = "0.1.0"

# normbench.convert(model, "dyt", **options): the norm layers of any model, replaced in place.
# Its module imports torch and timm only when it is called.
from normbench.convert import convert  # noqa: E402

__all__ = ["__version__", "convert"]
