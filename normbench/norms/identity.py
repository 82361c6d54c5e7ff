"""No normalization at all: the baseline that shows what a norm buys.

Still a NormLayer, so probes and transforms find the place where a norm was.
"""

from torch import nn

from .base import CHANNELS_LAST, NormLayer


class Identity(NormLayer, nn.Identity):
    norm_name = "identity"

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, device=None, dtype=None) -> None:
        layout = self.check_layout(layout)
        super().__init__()
        self.num_features = num_features
        self.layout = layout

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "Identity":
        return cls(num_features, layout=layout)

    def extra_repr(self) -> str:
        return f"{self.num_features}, layout={self.layout}"
